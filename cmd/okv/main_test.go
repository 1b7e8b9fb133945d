package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/okvault/okv/cmd"
	"github.com/okvault/okv/internal/testkeyring"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"okv": func() { os.Exit(cmd.Main(os.Args[1:])) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/*.txtar. Each script
// gets its own HOME, vault folder and, where gnome-keyring is installed, its
// own private D-Bus session with an unlocked gnome-keyring: a real Secret
// Service that is never the user's own.
func TestScripts(t *testing.T) {
	if !testkeyring.Available() && testkeyring.Required() {
		t.Fatal("OKV_REQUIRE_KEYRING=1 but dbus-daemon or gnome-keyring-daemon is missing")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup:               setupScript,
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "keyring":
				return testkeyring.Available(), nil
			case "age":
				_, err := exec.LookPath("age")
				return err == nil || os.Getenv("OKV_REQUIRE_TOOLS") == "1", nil
			case "openai-npm":
				// proxy/e2e/node_modules, installed by make test (npm ci).
				return fileExists("../../proxy/e2e/node_modules/openai/package.json") || os.Getenv("OKV_REQUIRE_TOOLS") == "1", nil
			case "nearmidnight":
				// Within two minutes of a UTC midnight, a request and the
				// fake Admin API's "today" may fall on different days.
				now := time.Now().UTC()
				next := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
				return now.Sub(now.Truncate(24*time.Hour)) < 2*time.Minute || next.Sub(now) < 2*time.Minute, nil
			case "bashcompletion":
				return fileExists("/usr/share/bash-completion/bash_completion") || os.Getenv("OKV_REQUIRE_TOOLS") == "1", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"keyring":    cmdKeyring,
			"ptyexec":    cmdPtyExec,
			"perm":       cmdPerm,
			"exitcode":   cmdExitCode,
			"fakeopenai": cmdFakeOpenAI,
			"fakellms":   cmdFakeLLMs,
			"fakeadmin":  cmdFakeAdmin,
			"ptyshell":   cmdPtyShell,
			"killedby":   cmdKilledBy,
			"agentproc":  cmdAgentProc,
		},
	})
}

func setupScript(e *testscript.Env) error {
	home := filepath.Join(e.WorkDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	e.Setenv("HOME", home)
	e.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	e.Setenv("OKV_HOME", filepath.Join(e.WorkDir, "vault"))
	e.Setenv("OKV_KEYCHAIN_TIMEOUT", "5s")
	e.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(e.WorkDir, "no-bus"))
	e.Setenv("SHELL", "/bin/sh")
	e.Defer(func() { killAgents(e.WorkDir) })
	if root, err := filepath.Abs("../.."); err == nil {
		e.Setenv("OKV_REPO", root)
	}
	// Values the scripts use; stdout/stderr are checked not to echo them.
	e.Setenv("KEY", "sk-proj-"+strings.Repeat("Ab3d", 10)+"T3BlbkFJ"+strings.Repeat("x9Yz", 10))
	e.Setenv("KEY2", "sk-prod-0123456789abcdefghij0123456789")
	if !testkeyring.Available() {
		return nil
	}
	kdir, err := os.MkdirTemp("", "okv-keyring-")
	if err != nil {
		return err
	}
	k, err := testkeyring.Start(kdir)
	if err != nil {
		return err
	}
	e.Defer(func() { k.Stop(); os.RemoveAll(kdir) })
	for _, kv := range k.Env(nil) {
		name, val, _ := strings.Cut(kv, "=")
		e.Setenv(name, val)
	}
	e.Values["keyring"] = k
	return nil
}

// keyring lock | keyring delete | keyring identity FILE
//
// Acts on the script's private gnome-keyring: lock the login collection,
// delete the vault's item, or copy the vault's identity into FILE (to give
// the age command the same identity).
func cmdKeyring(ts *testscript.TestScript, neg bool, args []string) {
	k, _ := ts.Value("keyring").(*testkeyring.Keyring)
	if k == nil {
		ts.Fatalf("no keyring in this script (guard it with [keyring])")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: keyring lock|delete|identity FILE")
	}
	vaultID := func() string {
		data := ts.ReadFile(filepath.Join(ts.Getenv("OKV_HOME"), "config.toml"))
		m := regexp.MustCompile(`vault_id = "([^"]+)"`).FindStringSubmatch(data)
		if m == nil {
			ts.Fatalf("no vault_id in config.toml")
		}
		return m[1]
	}
	var err error
	switch args[0] {
	case "lock":
		err = k.Lock()
	case "delete":
		c := exec.Command("secret-tool", "clear", "service", "okv", "username", vaultID())
		c.Env = k.Env(os.Environ())
		err = c.Run()
	case "identity":
		var id string
		id, err = k.Lookup("okv", vaultID())
		if err == nil {
			err = os.WriteFile(ts.MkAbs(args[1]), []byte(id+"\n"), 0o600)
		}
	default:
		ts.Fatalf("unknown keyring command %q", args[0])
	}
	if (err != nil) != neg {
		ts.Fatalf("keyring %s: %v", args[0], err)
	}
}

// ptyexec [-input FILE] [-paste FILE] [-nobracket] PROG ARGS...
//
// Runs PROG with stdin, stdout and stderr all on a new pseudo-terminal
// (testscript's ttyin only attaches stdin), writes FILE's content as the
// keyboard, and puts everything the terminal showed into the file ptyout.
// With -paste, the first prompt gets PASTE's content in one write, as a
// terminal pastes: wrapped in bracketed-paste markers when the program
// turned bracketed paste on (unless -nobracket: a terminal without it).
// Once PROG has exited, whatever it left unread on the terminal (what the
// shell would read and run next) goes into the file ptyleft, and how it
// ended ("exit status 1", "signal: interrupt") and the terminal modes it
// left ("echo=true icanon=true isig=true") into ptyexit. The program's
// exit code counts like exec's.
func cmdPtyExec(ts *testscript.TestScript, neg bool, args []string) {
	var chunks []string
	var paste *string
	bracketOK := true
	for len(args) > 0 {
		switch args[0] {
		case "-input":
			if len(args) < 2 {
				ts.Fatalf("ptyexec: -input needs a file")
			}
			for _, line := range strings.SplitAfter(ts.ReadFile(args[1]), "\n") {
				if line != "" {
					chunks = append(chunks, line)
				}
			}
			args = args[2:]
			continue
		case "-paste":
			if len(args) < 2 {
				ts.Fatalf("ptyexec: -paste needs a file")
			}
			p := ts.ReadFile(args[1])
			paste = &p
			args = args[2:]
			continue
		case "-nobracket":
			bracketOK = false
			args = args[1:]
			continue
		}
		break
	}
	if len(args) == 0 {
		ts.Fatalf("usage: ptyexec [-input FILE] [-paste FILE] [-nobracket] PROG ARGS...")
	}
	path := args[0]
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, args[0]); fileExists(p) {
			path = p
			break
		}
	}
	c := exec.Command(path, args[1:]...)
	c.Dir = ts.MkAbs(".") // the script's working folder
	env := os.Environ()
	for _, name := range []string{"HOME", "XDG_CONFIG_HOME", "OKV_HOME", "OKV_KEYCHAIN_TIMEOUT", "DBUS_SESSION_BUS_ADDRESS", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "SHELL", "PATH", "OKV_PROFILE", "OKV_IDENTITY_FILE"} {
		env = append(env, name+"="+ts.Getenv(name))
	}
	c.Env = append(env, "TERM=xterm")
	f, tty, err := startOnPty(c)
	ts.Check(err)
	defer f.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				close(done)
				return
			}
		}
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = c.Wait(); close(exited) }()
	if paste != nil {
		chunks = append([]string{*paste}, chunks...)
	}
	// Type one line per prompt: wait until the terminal shows a new prompt
	// (output ending in ": " or "] ") before sending the next line, as a
	// person would. Echo of typed text would show up in the capture.
	seen := 0
	for i, chunk := range chunks {
		deadline := time.Now().Add(10 * time.Second)
		var text string
		for {
			mu.Lock()
			text = out.String()
			mu.Unlock()
			prompt := strings.TrimSuffix(text, "\x1b[?2004h")
			if len(prompt) > seen && (strings.HasSuffix(prompt, ": ") || strings.HasSuffix(prompt, "] ")) {
				seen = len(prompt)
				break
			}
			select {
			case <-exited:
			default:
				if time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
					continue
				}
			}
			break
		}
		if i == 0 && paste != nil && bracketOK && strings.LastIndex(text, "\x1b[?2004h") > strings.LastIndex(text, "\x1b[?2004l") {
			chunk = "\x1b[200~" + chunk + "\x1b[201~"
		}
		io.WriteString(f, chunk)
	}
	// A program that waits for input no line answers would hang the whole
	// suite: kill it and fail with what it printed.
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		<-exited
		mu.Lock()
		ts.Logf("[pty]\n%s", out.String())
		mu.Unlock()
		ts.Fatalf("ptyexec %s: still running after 60s (waiting for input?): killed", args[0])
	}
	err = waitErr
	mode, left := leftOnTerminal(tty)
	if tty != nil {
		tty.Close()
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	ts.Logf("[pty]\n%s\n[left on the terminal]\n%q", out.String(), left)
	// Make the capture available to the stdout command via a file.
	mu.Lock()
	os.WriteFile(ts.MkAbs("ptyout"), out.Bytes(), 0o600)
	mu.Unlock()
	os.WriteFile(ts.MkAbs("ptyleft"), left, 0o600)
	os.WriteFile(ts.MkAbs("ptyexit"), []byte(c.ProcessState.String()+"\n"+mode+"\n"), 0o600)
	if (err != nil) != neg {
		ts.Fatalf("ptyexec %s: unexpected result: %v", args[0], err)
	}
}

// perm MODE FILE: checks FILE's permission bits (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm MODE FILE")
	}
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	got := fmt.Sprintf("%04o", fi.Mode().Perm())
	want := args[0]
	if len(want) == 3 {
		want = "0" + want
	}
	if (got == want) == neg {
		ts.Fatalf("%s has mode %s, want %s%s", args[1], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// exitcode N PROG ARGS...: runs PROG like exec and asserts its exit code
// is N, so scripts check the documented codes (1, 2, 3, 126, 127…).
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: exitcode N PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
		// Killed by a signal: report it as a shell does (128+N).
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			got = 128 + int(ws.Signal())
		}
	} else if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}
