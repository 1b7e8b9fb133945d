//go:build unix

package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injected clock: the reaper and the requests read it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startServer(t *testing.T, clock *fakeClock) (string, chan string, chan error) {
	t.Helper()
	_, socket, forgot, done := startServerWith(t, clock)
	return socket, forgot, done
}

// startServerWith is startServer that also returns the Server.
func startServerWith(t *testing.T, clock *fakeClock) (*Server, string, chan string, chan error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "okv-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "agent.sock")
	ln, err := Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	forgot := make(chan string, 10)
	done := make(chan error, 1)
	s := &Server{Now: clock.Now, StartGrace: time.Hour, OnForget: func(e Entry, id, why string) {
		if id != "AGE-SECRET-KEY-TEST" {
			t.Errorf("OnForget got the wrong identity")
		}
		forgot <- why
	}}
	go func() { done <- s.Serve(ln, Hardening{}) }()
	return s, socket, forgot, done
}

// waitExited waits for Serve to return nil: the agent, holding nothing,
// has stopped.
func waitExited(t *testing.T, done chan error, when string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the agent did not exit %s", when)
	}
}

func waitForget(t *testing.T, forgot chan string, want string) {
	t.Helper()
	select {
	case why := <-forgot:
		if why != want {
			t.Fatalf("forgotten for %q, want %q", why, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("not forgotten (%s)", want)
	}
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	socket, forgot, done := startServer(t, clock)
	add := func(v string) {
		if _, err := Call(socket, Request{Op: OpAdd, Vault: v, Identity: "AGE-SECRET-KEY-TEST", Idle: 10 * time.Minute, Max: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(v string) error {
		r, err := Call(socket, Request{Op: OpGet, Vault: v})
		if err == nil && r.Identity != "AGE-SECRET-KEY-TEST" {
			t.Fatalf("get: wrong identity")
		}
		return err
	}
	add("a")
	add("b")
	// Each use renews the idle time: 9 minutes apart, a is kept.
	for i := 0; i < 3; i++ {
		clock.Add(9 * time.Minute)
		if err := get("a"); err != nil {
			t.Fatalf("after %d uses: %v", i, err)
		}
	}
	// b went unused for 27 minutes: forgotten for idleness.
	waitForget(t, forgot, "expire-idle")
	if err := get("b"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("b after idle: %v", err)
	}
	// Used every 9 minutes, a still ends at the hour.
	for clock.Now().Before(time.Date(2026, 1, 1, 8, 54, 0, 0, time.UTC)) {
		clock.Add(9 * time.Minute)
		if err := get("a"); err != nil {
			t.Fatalf("a, used within its idle time, at %v: %v", clock.Now(), err)
		}
	}
	clock.Add(7 * time.Minute)
	waitForget(t, forgot, "expire-max")
	waitExited(t, done, "holding nothing")
	if err := get("a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a after the absolute time: %v (the agent should have exited)", err)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestLockForgetsAndExits(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	socket, forgot, done := startServer(t, clock)
	if _, err := Call(socket, Request{Op: OpAdd, Vault: "a", Identity: "AGE-SECRET-KEY-TEST", Idle: time.Minute, Max: time.Hour}); err != nil {
		t.Fatal(err)
	}
	r, err := Call(socket, Request{Op: OpStatus})
	if err != nil || len(r.Held) != 1 || r.Held[0].Vault != "a" {
		t.Fatalf("status: %+v %v", r, err)
	}
	if _, err := Call(socket, Request{Op: OpLock, Vault: "a"}); err != nil {
		t.Fatal(err)
	}
	waitForget(t, forgot, "lock")
	waitExited(t, done, "after its last lock")
}

// TestHeldMarks: the agent marks the vaults it holds in HeldDir, so that
// MayHold answers without a round trip over the socket: a vault not
// marked is not held, by an agent that marks. The marks follow every
// add, lock and expiry, and go with the agent. Without a HeldDir (no
// agent, or one of an earlier okv), and for a vault id that is not a
// plain file name, MayHold says ask.
func TestHeldMarks(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	socket, forgot, done := startServer(t, clock)
	dir := filepath.Dir(socket)
	add := func(v string, idle time.Duration) {
		t.Helper()
		if _, err := Call(socket, Request{Op: OpAdd, Vault: v, Identity: "AGE-SECRET-KEY-TEST", Idle: idle, Max: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Call(socket, Request{Op: OpStatus}); err != nil { // it serves
		t.Fatal(err)
	}
	if MayHold(dir, "okv-a") || MayHold(dir, "okv-b") {
		t.Fatal("an agent holding nothing may hold okv-a or okv-b")
	}
	add("okv-a", time.Hour)
	add("okv-b", time.Minute)
	if !MayHold(dir, "okv-a") || !MayHold(dir, "okv-b") || MayHold(dir, "okv-c") {
		t.Fatal("the marks do not follow the adds")
	}
	if !MayHold(dir, "../okv-c") || !MayHold(dir, ".hidden") {
		t.Fatal("a vault id that is not a plain name must be asked for")
	}
	if fi, err := os.Lstat(filepath.Join(HeldDir(dir), "okv-a")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mark: %v %v", fi, err)
	}
	if fi, err := os.Lstat(HeldDir(dir)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("marks' folder: %v %v", fi, err) // README: 0600 marks in a 0700 folder
	}
	// okv-b expires for idleness: its mark goes.
	clock.Add(2 * time.Minute)
	waitForget(t, forgot, "expire-idle")
	if MayHold(dir, "okv-b") {
		t.Fatal("okv-b still marked after its expiry")
	}
	if _, err := Call(socket, Request{Op: OpLock, Vault: "okv-a"}); err != nil {
		t.Fatal(err)
	}
	waitForget(t, forgot, "lock")
	waitExited(t, done, "after its last lock")
	if _, err := os.Lstat(HeldDir(dir)); !os.IsNotExist(err) {
		t.Fatalf("the marks' folder outlived the agent: %v", err)
	}
	if !MayHold(dir, "okv-a") {
		t.Fatal("with no agent marking, okv must ask (an agent of an earlier okv keeps no marks)")
	}
}

// TestHeldMarksOnACaseFoldingFS: on a file system that folds case (macOS's
// default APFS, Windows) vault ids that differ only by case would name one
// mark, and removing the mark of one, as it is locked, would remove the
// other's: MayHold would say "not held" for a vault the agent holds. The
// file systems the tests run on are case-sensitive, so the test does what
// a folding one would: every mark the agent removes also takes the marks
// whose names fold to the same (foldRemoved). It holds both spellings of
// two ids, locks one of each pair, and checks that MayHold still answers
// "may hold" for the other. An id with a capital gets no mark, and is
// asked for even when the agent's marks say nothing of it.
func TestHeldMarksOnACaseFoldingFS(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	socket, forgot, done := startServer(t, clock)
	dir := filepath.Dir(socket)
	marks := func() map[string]bool {
		t.Helper()
		ents, err := os.ReadDir(HeldDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, e := range ents {
			m[e.Name()] = true
		}
		return m
	}
	// foldRemoved removes what a folding file system would have removed
	// with each mark the agent removed since before: any name that folds
	// to it.
	foldRemoved := func(before map[string]bool) {
		t.Helper()
		now := marks()
		for gone := range before {
			if now[gone] {
				continue
			}
			for n := range now {
				if strings.EqualFold(n, gone) {
					os.Remove(filepath.Join(HeldDir(dir), n))
				}
			}
		}
	}
	ids := []string{"okv-a", "OKV-A", "OKV-B", "okv-b"}
	for _, v := range ids {
		if _, err := Call(socket, Request{Op: OpAdd, Vault: v, Identity: "AGE-SECRET-KEY-TEST", Idle: time.Hour, Max: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range ids {
		if !MayHold(dir, v) {
			t.Fatalf("held %s: MayHold says no", v)
		}
	}
	for _, lock := range []string{"okv-a", "OKV-B"} {
		before := marks()
		if _, err := Call(socket, Request{Op: OpLock, Vault: lock}); err != nil {
			t.Fatal(err)
		}
		waitForget(t, forgot, "lock")
		foldRemoved(before)
	}
	for _, v := range []string{"OKV-A", "okv-b"} {
		if !MayHold(dir, v) {
			t.Errorf("%s is held, but after the lock of its other spelling MayHold says it is not", v)
		}
	}
	if !MayHold(dir, "OKV-C") || MayHold(dir, "okv-c") {
		t.Errorf("not held: OKV-C must be asked for (a capital), okv-c answered from the marks")
	}
	for _, v := range []string{"OKV-A", "okv-b"} {
		if _, err := Call(socket, Request{Op: OpLock, Vault: v}); err != nil {
			t.Fatal(err)
		}
		waitForget(t, forgot, "lock")
	}
	waitExited(t, done, "after its last lock")
}

// TestStoppingAgentLeavesANewAgentsMarks: an agent that stops after a new
// one made its own held/ (the old one was still stopping) removes only the
// folder it made itself.
func TestStoppingAgentLeavesANewAgentsMarks(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	socket, forgot, done := startServer(t, clock)
	dir := filepath.Dir(socket)
	if _, err := Call(socket, Request{Op: OpAdd, Vault: "okv-a", Identity: "AGE-SECRET-KEY-TEST", Idle: time.Minute, Max: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// A new agent's folder and mark in place of this one's.
	if err := os.RemoveAll(HeldDir(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(HeldDir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(HeldDir(dir), "okv-b"), nil, 0o600)
	if _, err := Call(socket, Request{Op: OpLock, Vault: "okv-a"}); err != nil {
		t.Fatal(err)
	}
	waitForget(t, forgot, "lock")
	waitExited(t, done, "after its last lock")
	if _, err := os.Lstat(filepath.Join(HeldDir(dir), "okv-b")); err != nil {
		t.Fatalf("the stopping agent removed the new agent's marks: %v", err)
	}
}

// startHoldingV1 starts an agent that holds vault v1, added by a client
// (which the agent serves on a goroutine of its own: not a get).
func startHoldingV1(t *testing.T) (*Server, string) {
	t.Helper()
	s, socket, _, _ := startServerWith(t, &fakeClock{t: time.Now()})
	if _, err := Call(socket, Request{Op: OpAdd, Vault: "v1", Identity: "AGE-SECRET-KEY-TEST", Idle: time.Hour, Max: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return s, socket
}

// A client that is slow to send its request gets a goroutine of its own
// after inlineWait (the agent serves okv's own clients on the accepting
// goroutine): a second client is answered while the first still sends,
// and the first, when it is done, is answered too, its request read from
// what arrived before and after the hand-off. The first part ends a line
// inside the JSON value, which must not be taken for the request's end.
func TestSlowClientHoldsUpNobody(t *testing.T) {
	s, socket := startHoldingV1(t)
	slow, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	req := "{\n" + `"op":"get","vault":"v1"}` + "\n"
	if _, err := io.WriteString(slow, req[:10]); err != nil {
		t.Fatal(err)
	}
	// Another client, while the first has sent only part of its request:
	// were it held up until the first's deadline, its own read would time
	// out first.
	defer func(d time.Duration) { ioTimeout = d }(ioTimeout)
	ioTimeout = time.Second
	if id, err := Get(socket, "v1"); err != nil || id != "AGE-SECRET-KEY-TEST" {
		t.Fatalf("the second client got %q, %v", id, err)
	}
	if _, err := io.WriteString(slow, req[10:]); err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.NewDecoder(slow).Decode(&resp); err != nil || resp.Identity != "AGE-SECRET-KEY-TEST" {
		t.Fatalf("the slow client got %+v, %v", resp, err)
	}
	// The add was handed off (not a get), and the slow client.
	if n := s.handedOff.Load(); n != 2 {
		t.Fatalf("%d connections served on goroutines of their own, want 2 (the add and the slow client)", n)
	}
}

// A get that ends with the client's end of the connection, not a newline,
// is answered on the accepting goroutine, without waiting for inlineWait.
func TestRequestWithoutNewline(t *testing.T) {
	defer func(d time.Duration) { inlineWait = d }(inlineWait)
	inlineWait = time.Minute // no hand-off because the test machine is slow
	s, socket := startHoldingV1(t)
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, `{"op":"get","vault":"v1"}`)
	c.CloseWrite()
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.Identity != "AGE-SECRET-KEY-TEST" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if n := s.handedOff.Load(); n != 1 {
		t.Fatalf("%d connections served on goroutines of their own, want 1 (the add)", n)
	}
}

// A client that sends more than maxRequest after the hand-off is answered
// "malformed request" once the agent has read maxRequest bytes: the agent
// does not hold all that it is sent.
func TestOverlongRequestAfterHandOff(t *testing.T) {
	s, socket, _, _ := startServerWith(t, &fakeClock{t: time.Now()})
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, `{"op":"get","vault":"`)
	for until := time.Now().Add(10 * time.Second); s.handedOff.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(until) {
			t.Fatal("the agent did not hand off a request that stopped coming")
		}
	}
	written := make(chan int, 1)
	go func() {
		pad := strings.Repeat("a", 64<<10)
		n := 0
		for n < 4*maxRequest {
			m, err := io.WriteString(c, pad)
			n += m
			if err != nil {
				break // the agent has closed the connection
			}
		}
		written <- n
	}()
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.Error != "malformed request" {
		t.Fatalf("got %+v, %v; want a malformed request", resp, err)
	}
	// What the socket's buffers hold aside, the agent stopped reading at
	// maxRequest.
	if n := <-written; n >= 4*maxRequest {
		t.Fatalf("the agent read all %d bytes it was sent", n)
	}
}
