//go:build unix

package shell

import (
	"bufio"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A supervised child gets the signals sent to okv, except those a terminal
// already delivers to the whole foreground group (SharesTerminal): a second
// Ctrl-C makes many programs abandon their cleanup.
func TestSuperviseForwardsSignals(t *testing.T) {
	for _, shares := range []bool{false, true} {
		pr, pw := io.Pipe()
		c := &Command{
			Args:           []string{"sh", "-c", `trap "echo got-int" INT; trap "echo got-term" TERM; echo ready; sleep 1 & wait; sleep 1 & wait; echo done`},
			Env:            os.Environ(),
			Stdout:         pw,
			Stderr:         os.Stderr,
			SharesTerminal: shares,
		}
		type result struct {
			code int
			err  error
		}
		res := make(chan result, 1)
		go func() {
			e, err := Supervise(c)
			code := e.Code
			pw.Close()
			res <- result{code, err}
		}()
		sc := bufio.NewScanner(pr)
		if !sc.Scan() || sc.Text() != "ready" {
			t.Fatalf("child did not start: %q", sc.Text())
		}
		// Signals to okv itself (not to its process group).
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		time.Sleep(50 * time.Millisecond)
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		r := <-res
		out := strings.Join(lines, "\n")
		if r.err != nil || r.code != 0 {
			t.Fatalf("shares=%v: code %d, err %v, output %q", shares, r.code, r.err, out)
		}
		if !strings.Contains(out, "got-term") {
			t.Errorf("shares=%v: SIGTERM was not forwarded: %q", shares, out)
		}
		if gotInt := strings.Contains(out, "got-int"); gotInt == shares {
			t.Errorf("shares=%v: SIGINT forwarded=%v, want %v: %q", shares, gotInt, !shares, out)
		}
	}
}

// SameFile sees through two descriptors of one pipe (2>&1) and tells two
// pipes apart.
func TestSameFile(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	dup := os.NewFile(uintptr(fd), "dup")
	defer dup.Close()
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer w2.Close()
	if !SameFile(w, dup) {
		t.Error("a pipe and its dup are the same file")
	}
	if SameFile(w, w2) {
		t.Error("two pipes are not the same file")
	}
	if SameFile(w, io.Discard) {
		t.Error("a non-file writer is not the same file")
	}
}
