//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/rogpeppe/go-internal/testscript"
)

// ptyshell FILE
//
// Runs an interactive bash with job control on a new pseudo-terminal, as a
// user's terminal would, and follows FILE line by line:
//
//	send TEXT     types TEXT, with \n for Enter and \xHH for a byte
//	              (\x1a is Ctrl-Z, \x03 Ctrl-C)
//	expect REGEX  waits (10 s at most) until the output since the last
//	              expect matches REGEX
//
// Everything the terminal showed goes into the file ptyout.
func cmdPtyShell(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: ptyshell FILE")
	}
	// One run, no retry. A Ctrl-Z once seemed lost about one run in five
	// under load: it had stopped the child dash had just vforked, before
	// its exec, which leaves dash in vfork and the job never stopped, with
	// or without okv. The scripts send Ctrl-Z when the child is in a
	// builtin (read, wait), not forking.
	if err := runPtyShell(ts, args[0]); err != nil {
		ts.Fatalf("%v", err)
	}
}

// runPtyShell runs the script FILE once in a new bash on a new pty.
func runPtyShell(ts *testscript.TestScript, file string) error {
	bash, err := exec.LookPath("bash")
	if err != nil {
		ts.Fatalf("ptyshell needs bash (guard the script with [exec:bash])")
	}
	c := exec.Command(bash, "--norc", "--noprofile", "-i")
	c.Dir = ts.MkAbs(".")
	c.Env = append(scriptEnv(ts), "PS1=$ ", "TERM=dumb")
	f, err := pty.StartWithSize(c, &pty.Winsize{Rows: 40, Cols: 250})
	ts.Check(err)
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
	defer func() {
		c.Process.Kill()
		c.Wait()
		f.Close()
		mu.Lock()
		ts.Logf("[pty]\n%s", out.String())
		os.WriteFile(ts.MkAbs("ptyout"), out.Bytes(), 0o600)
		mu.Unlock()
	}()
	seen := 0
	for _, line := range strings.Split(ts.ReadFile(file), "\n") {
		verb, arg, _ := strings.Cut(line, " ")
		switch verb {
		case "", "#":
		case "send":
			f.WriteString(unescape(ts, arg))
		case "expect":
			re := regexp.MustCompile(arg)
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				text := out.String()
				mu.Unlock()
				if loc := re.FindStringIndex(text[seen:]); loc != nil {
					seen += loc[1]
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("ptyshell: no %q in %q", arg, text[seen:])
				}
				time.Sleep(5 * time.Millisecond)
			}
		default:
			ts.Fatalf("ptyshell: unknown verb %q", verb)
		}
	}
	return nil
}

// scriptEnv is the environment a program started outside ts.Exec needs to
// find the script's vault and keyring.
func scriptEnv(ts *testscript.TestScript) []string {
	env := os.Environ()
	for _, name := range []string{"HOME", "XDG_CONFIG_HOME", "OKV_HOME", "OKV_KEYCHAIN_TIMEOUT", "DBUS_SESSION_BUS_ADDRESS", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "SHELL", "PATH", "OKV_PROFILE", "OKV_IDENTITY_FILE"} {
		env = append(env, name+"="+ts.Getenv(name))
	}
	return env
}

// killedby SIGNAL PROG ARGS...: runs PROG like exec and asserts that it
// died of SIGNAL (INT, TERM, USR1 …), as the shell that started it sees
// it: not an exit with code 128+N.
func cmdKilledBy(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: killedby SIGNAL PROG ARGS...")
	}
	want := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP,
		"USR1": syscall.SIGUSR1, "QUIT": syscall.SIGQUIT, "PIPE": syscall.SIGPIPE, "KILL": syscall.SIGKILL}[args[0]]
	if want == 0 {
		ts.Fatalf("killedby: unknown signal %q", args[0])
	}
	err := ts.Exec(args[1], args[2:]...)
	ee, ok := err.(*exec.ExitError)
	if !ok {
		ts.Fatalf("%s did not die of SIG%s: %v", args[1], args[0], err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != want {
		ts.Fatalf("%s: %v (signaled %v, exit %d), want death by SIG%s", args[1], ws.Signal(), ws.Signaled(), ws.ExitStatus(), args[0])
	}
}

// unescape turns \n and \xHH in s into the bytes they name.
func unescape(ts *testscript.TestScript, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], `\n`):
			b.WriteByte('\n')
			i++
		case strings.HasPrefix(s[i:], `\x`) && i+4 <= len(s):
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			ts.Check(err)
			b.WriteByte(byte(n))
			i += 3
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
