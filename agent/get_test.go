//go:build unix

package agent

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Get is the get of Call with its own small types (okv run's start-up):
// it must answer exactly as Call does, against the real server.
func TestGetAnswersAsCall(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	socket, _, done := startServer(t, clock)
	if _, err := Call(socket, Request{Op: OpAdd, Vault: "okv-a", Identity: "AGE-SECRET-KEY-TEST", Idle: 10 * time.Minute, Max: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// A get renews the idle time as Call's does: used every 9 minutes,
	// the identity outlives the 10-minute idle time.
	for i := 0; i < 3; i++ {
		id, err := Get(socket, "okv-a")
		if err != nil || id != "AGE-SECRET-KEY-TEST" {
			t.Fatalf("get %d: %q, %v", i, id, err)
		}
		clock.Add(9 * time.Minute)
	}
	if id, err := Get(socket, "okv-b"); !errors.Is(err, ErrNotHeld) || id != "" {
		t.Fatalf("a vault the agent does not hold: %q, %v (want ErrNotHeld)", id, err)
	}
	if _, err := Call(socket, Request{Op: OpLock}); err != nil {
		t.Fatal(err)
	}
	waitExited(t, done, "after lock")
	if _, err := Get(socket, "okv-a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no agent: %v (want ErrUnavailable)", err)
	}
}

// An agent's refusal and an answer that is not JSON are errors, never an
// empty identity taken for a held one.
func TestGetRefusalAndGarbage(t *testing.T) {
	// The refusal is written before the request is read, as the agent
	// refuses; the garbage only after it is read (written first, its close
	// can beat the client's write, and the error is then that write's
	// broken pipe: 1 run in about 30 failed so).
	for _, c := range []struct {
		answer, want string
		readFirst    bool
	}{
		{`{"error":"refused: the client runs as uid 1, the agent serves uid 0 only"}` + "\n", "okv agent: refused", false},
		{"not json\n", "did not answer", true},
	} {
		socket, ln := listenTemp(t)
		go func() {
			c2, err := ln.Accept()
			if err != nil {
				return
			}
			defer c2.Close()
			if c.readFirst {
				bufio.NewReader(c2).ReadString('\n')
			}
			c2.Write([]byte(c.answer))
		}()
		id, err := Get(socket, "okv-a")
		if err == nil || !strings.Contains(err.Error(), c.want) || id != "" {
			t.Fatalf("answer %q: got %q, %v; want an error containing %q", c.answer, id, err, c.want)
		}
	}
}

// An agent that takes the connection and never answers must not hang
// okv: the socket's timeouts end the exchange with an error (the client
// dials with a blocking socket, not through the net package and its
// deadlines).
func TestGetAgentThatNeverAnswers(t *testing.T) {
	defer func(d time.Duration) { ioTimeout = d }(ioTimeout)
	ioTimeout = 200 * time.Millisecond
	socket, ln := listenTemp(t)
	release := make(chan struct{})
	defer close(release)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		<-release
	}()
	got := make(chan error, 1)
	go func() {
		_, err := Get(socket, "okv-a")
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") {
			t.Fatalf("got %v, want the agent did not answer within 200ms", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get still waits on an agent that never answers")
	}
}

// listenTemp listens on a socket in a new folder under the system's temp
// folder (t.TempDir's path can exceed a socket path's limit), both removed
// when the test ends.
func listenTemp(t *testing.T) (string, net.Listener) {
	t.Helper()
	dir, err := os.MkdirTemp("", "okv-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return socket, ln
}
