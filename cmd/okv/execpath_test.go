package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestRunExecPathSyscalls: what okv run does before it execs the child
// (issue 21), seen with strace: the vault's config.toml is read once (the
// personal vault is not looked up again for a personal vault), the audit
// append renames nothing (audit.head is moved in place), and nothing waits
// on the disk (fsync, fdatasync, sync_file_range) on a day without an
// overdue reminder.
func TestRunExecPathSyscalls(t *testing.T) {
	strace := needStrace(t)
	root := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	okv := filepath.Join(root, "okv") // testscript.Main runs okv under this name
	if err := os.Symlink(exe, okv); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(root, "id.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	dir := filepath.Join(root, "vault")
	env := append(os.Environ(), "OKV_HOME="+dir, "OKV_IDENTITY_FILE="+idFile, "HOME="+root,
		"XDG_CONFIG_HOME="+filepath.Join(root, "config"), "XDG_RUNTIME_DIR="+filepath.Join(root, "run"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(root, "no-bus"), "OKV_PROFILE=", "OPENAI_API_KEY=")
	run := func(stdin string, args ...string) string {
		t.Helper()
		c := exec.Command(args[0], args[1:]...)
		c.Env, c.Dir = env, root
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("", okv, "init")
	run("sk-proj-execpath-0123456789abcdef\n", okv, "set")
	run("", okv, "run", "--", "true") // the day's reminders and warnings are settled
	trace := filepath.Join(root, "trace")
	run("", strace, "-f", "-qq", "-o", trace, "-e", "trace=openat,open,rename,renameat,renameat2,fsync,fdatasync,sync_file_range,execve",
		okv, "run", "--", "true")
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var config, renames, syncs, execs int
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.Contains(l, "execve("):
			execs++ // okv itself, then the child
			continue
		case execs >= 2:
			continue // the child's own calls
		case strings.Contains(l, "rename"):
			renames++
		case strings.Contains(l, "sync"):
			syncs++
		case strings.Contains(l, "config.toml") && strings.Contains(l, filepath.Join(dir, "config.toml")):
			config++
		}
	}
	if execs < 2 {
		t.Fatalf("okv run did not exec the child:\n%s", data)
	}
	if config != 1 || renames != 0 || syncs != 0 {
		t.Errorf("before the exec: config.toml opened %d times (want 1), %d renames (want 0), %d fsync-like calls (want 0)\n%s", config, renames, syncs, data)
	}
}

// TestRunSkipsAnAgentNotHoldingIt: with the agent up for one vault, a run
// of another vault does not connect to the agent's socket (the agent's
// held/ marks say it does not hold it); with the marks gone, as under an
// agent of an earlier okv, the same run asks the agent again.
func TestRunSkipsAnAgentNotHoldingIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the agent's peer check and strace: Linux")
	}
	strace := needStrace(t)
	root := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	okv := filepath.Join(root, "okv") // testscript.Main runs okv under this name
	if err := os.Symlink(exe, okv); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(root, "id.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	runDir := filepath.Join(root, "run")
	os.Mkdir(runDir, 0o700)
	base := append(os.Environ(), "HOME="+root, "XDG_CONFIG_HOME="+filepath.Join(root, "config"), "XDG_RUNTIME_DIR="+runDir,
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(root, "no-bus"), "OKV_PROFILE=", "OPENAI_API_KEY=", "OKV_NO_AGENT=")
	run := func(vault string, withID bool, args ...string) (string, error) {
		t.Helper()
		c := exec.Command(args[0], args[1:]...)
		c.Env, c.Dir = append(base, "OKV_HOME="+filepath.Join(root, vault)), root
		if withID {
			c.Env = append(c.Env, "OKV_IDENTITY_FILE="+idFile)
		} else {
			c.Env = append(c.Env, "OKV_IDENTITY_FILE=")
		}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for _, v := range []string{"held", "other"} {
		if out, err := run(v, true, okv, "init"); err != nil {
			t.Fatalf("init %s: %v\n%s", v, err, out)
		}
	}
	if out, err := run("held", true, okv, "unlock", "--for", "10m"); err != nil {
		t.Fatalf("unlock: %v\n%s", err, out)
	}
	defer run("held", true, okv, "lock", "--all")
	sock := filepath.Join(runDir, "okv", "agent.sock")
	connects := func() int {
		t.Helper()
		trace := filepath.Join(root, "trace")
		// Without its identity file the other vault cannot open: only
		// the agent could have it, and it does not.
		if out, err := run("other", false, strace, "-f", "-qq", "-o", trace, "-e", "trace=connect", okv, "run", "--", "true"); err == nil {
			t.Fatalf("the other vault opened without its identity:\n%s", out)
		}
		data, _ := os.ReadFile(trace)
		return strings.Count(string(data), sock)
	}
	if n := connects(); n != 0 {
		t.Errorf("a run of a vault the agent does not hold connected to its socket %d times, want 0", n)
	}
	if err := os.RemoveAll(filepath.Join(runDir, "okv", "held")); err != nil {
		t.Fatal(err)
	}
	if n := connects(); n != 1 {
		t.Errorf("without the marks, the run connected to the agent %d times, want 1 (it must ask)", n)
	}
}
