//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

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
	// The parent keeps the terminal open, to read what the program left.
	f, tty, err := pty.Open()
	ts.Check(err)
	defer f.Close()
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := c.Start(); err != nil {
		tty.Close()
		ts.Fatalf("ptyexec: %v", err)
	}
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
	<-exited
	err = waitErr
	// What the next reader of the terminal gets: switch it to raw mode (so
	// a partial line is readable too) and read until it is quiet.
	mode := "termios unreadable"
	if tio, terr := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); terr == nil {
		mode = fmt.Sprintf("echo=%v icanon=%v isig=%v", tio.Lflag&unix.ECHO != 0, tio.Lflag&unix.ICANON != 0, tio.Lflag&unix.ISIG != 0)
	}
	var left []byte
	if st, terr := term.MakeRaw(int(tty.Fd())); terr == nil {
		if tio, terr := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); terr == nil {
			tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 0, 3
			unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, tio)
		}
		buf := make([]byte, 4096)
		for {
			n, _ := tty.Read(buf)
			if n == 0 {
				break
			}
			left = append(left, buf[:n]...)
		}
		term.Restore(int(tty.Fd()), st)
	}
	tty.Close()
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
