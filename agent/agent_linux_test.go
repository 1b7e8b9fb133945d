package agent

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a client and as an agent, run as another
// user through setpriv (util-linux).
func TestMain(m *testing.M) {
	switch {
	case os.Getenv("OKV_AGENT_TEST_CALL") != "":
		_, err := Call(os.Getenv("OKV_AGENT_TEST_CALL"), Request{Op: OpStatus})
		fmt.Println("call:", err)
		os.Exit(0)
	case os.Getenv("OKV_AGENT_TEST_SERVE") != "":
		h := Harden()
		ln, err := Listen(os.Getenv("OKV_AGENT_TEST_SERVE"))
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Chmod(os.Getenv("OKV_AGENT_TEST_SERVE"), 0o666) // reachable by anyone: the uid check must refuse
		s := &Server{StartGrace: 20 * time.Second}
		s.Serve(ln, h)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const nobody = 65534

// asNobody returns a copy of the test binary that uid 65534 can run, and
// the setpriv prefix, or skips (fails with OKV_REQUIRE_TOOLS=1).
func asNobody(t *testing.T) (bin string, prefix []string) {
	t.Helper()
	_, err := exec.LookPath("setpriv")
	if os.Getuid() != 0 || err != nil {
		if os.Getenv("OKV_REQUIRE_TOOLS") == "1" {
			t.Fatalf("needs root and setpriv (util-linux) to run a client as another user")
		}
		t.Skip("needs root and setpriv (util-linux) to run a process as another user")
	}
	dir, err := os.MkdirTemp("", "okv-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	exe, _ := os.Executable()
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin = filepath.Join(dir, "agent.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(dst, src)
	dst.Close()
	return bin, []string{"setpriv", fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups", bin}
}

// A client of another uid is refused by the SO_PEERCRED check even when it
// can reach the socket (here the folder and socket are opened to all).
func TestPeerOfAnotherUserRefused(t *testing.T) {
	bin, prefix := asNobody(t)
	socket := filepath.Join(filepath.Dir(bin), "agent.sock")
	ln, err := Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(socket, 0o666)
	s := &Server{StartGrace: time.Minute}
	go s.Serve(ln, Hardening{})
	defer ln.Close()

	if _, err := Call(socket, Request{Op: OpStatus}); err != nil {
		t.Fatalf("own uid: %v", err)
	}
	c := exec.Command(prefix[0], prefix[1:]...)
	c.Env = append(os.Environ(), "OKV_AGENT_TEST_CALL="+socket)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused: the client runs as uid 65534, the agent serves uid 0 only") {
		t.Fatalf("client as uid 65534 was not refused: %s", out)
	}
}

// The agent is non-dumpable: the kernel then makes its /proc/PID/environ
// and mem root's, so another process of the same (unprivileged) user cannot
// read its memory. A dumpable process of that user, the control, keeps
// them its own. And a client of another uid (root here) is refused.
func TestAgentNonDumpable(t *testing.T) {
	bin, prefix := asNobody(t)
	socket := filepath.Join(filepath.Dir(bin), "agent.sock")
	agent := exec.Command(prefix[0], prefix[1:]...)
	agent.Env = append(os.Environ(), "OKV_AGENT_TEST_SERVE="+socket)
	var out bytes.Buffer
	agent.Stdout, agent.Stderr = &out, &out
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { agent.Process.Kill(); agent.Wait() }()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	control := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups", "sleep", "30")
	if err := control.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { control.Process.Kill(); control.Wait() }()
	time.Sleep(100 * time.Millisecond) // setpriv has exec'd sleep

	owner := func(pid int, f string) uint32 {
		fi, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), f))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	for _, f := range []string{"environ", "mem"} {
		if got := owner(control.Process.Pid, f); got != nobody {
			t.Fatalf("control: /proc/PID/%s owned by %d, want %d (the test cannot tell)", f, got, nobody)
		}
		if got := owner(agent.Process.Pid, f); got != 0 {
			t.Fatalf("agent: /proc/PID/%s owned by %d: the agent is dumpable (output: %s)", f, got, out.String())
		}
	}
	status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(agent.Process.Pid), "status"))
	if !strings.Contains(string(status), "Uid:\t65534") {
		t.Fatalf("the agent does not run as nobody:\n%s", status)
	}
	if _, err := Call(socket, Request{Op: OpStatus}); err == nil || !strings.Contains(err.Error(), "did not answer") && !strings.Contains(err.Error(), "refused") {
		t.Fatalf("root's client was not refused by nobody's agent: %v", err)
	}
}
