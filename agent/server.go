package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Server holds identities and serves them to its own user.
type Server struct {
	// OnForget is called (outside the lock) when an entry is forgotten:
	// why is "lock", "expire-idle", "expire-max" or "expire-session" (the
	// socket was removed: logind removes $XDG_RUNTIME_DIR at logout). It gets the identity so
	// that the audit record can be keyed.
	OnForget func(e Entry, identity string, why string)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// StartGrace is how long the agent waits for its first identity
	// before it exits.
	StartGrace time.Duration

	mu        sync.Mutex
	held      map[string]*held
	started   time.Time
	ln        *net.UnixListener
	sock      os.FileInfo // the socket as bound, to notice its removal
	hard      Hardening
	heldDir   string       // the marks of the vaults held (held.go); "" without
	heldOwner string       // the file in heldDir that says this agent made it
	handedOff atomic.Int64 // connections served on a goroutine of their own (tests)
}

type held struct {
	Entry
	identity []byte // mlocked where the OS allows
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Serve accepts clients on ln until the agent holds nothing (after holding
// something, or after StartGrace); then it removes the socket and returns.
func (s *Server) Serve(ln *net.UnixListener, h Hardening) error {
	s.ln, s.hard = ln, h
	s.sock, _ = os.Lstat(ln.Addr().String())
	s.held = map[string]*held{}
	s.openHeldDir(ln.Addr().String())
	defer s.closeHeldDir()
	s.started = s.now()
	if s.StartGrace == 0 {
		s.StartGrace = 30 * time.Second
	}
	done := make(chan struct{})
	go s.reaper(done)
	defer close(done)
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			empty := len(s.held) == 0
			s.mu.Unlock()
			if empty {
				return nil // closed by the reaper: nothing left to hold
			}
			return err
		}
		s.serveInline(c)
	}
}

// inlineWait is how long the accepting goroutine waits for a client's
// request before it hands the connection to a goroutine of its own.
var inlineWait = 2 * time.Millisecond

// maxRequest bounds a request (an add carries an identity: a few hundred
// bytes for age's, a few KiB for an SSH key's); the agent reads no more.
const maxRequest = 1 << 20

// serveInline answers a get on the accepting goroutine when the request
// arrives within inlineWait, as okv's own clients send it (one line,
// written as soon as they connect): no goroutine is started, and a
// request already there when the connection is accepted is read without
// waiting on the network poller. That took about 55 us off each answer,
// the identity okv run asks for before every start-up (issue 21). A get
// holds up the next client only for a map lookup and one small write. A
// client slower than inlineWait, and every other operation (a lock writes
// audit records, a status answer can be long), gets a goroutine of its
// own and the whole deadline.
func (s *Server) serveInline(c *net.UnixConn) {
	start := time.Now()
	c.SetDeadline(start.Add(inlineWait))
	if err := checkPeer(c); err != nil {
		// Another user's client: refused before it says anything.
		defer c.Close()
		c.SetDeadline(start.Add(connTimeout))
		json.NewEncoder(c).Encode(Response{Error: err.Error(), Dumpable: s.hard.Dumpable})
		return
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf)) // doubled: a long request takes few reads
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		// The request is whole when a line ends and what came is one
		// JSON value (a newline may also fall inside one).
		whole := bytes.IndexByte(buf[len(buf)-n:], '\n') >= 0 && json.Valid(buf)
		if whole || err != nil && !isTimeout(err) || len(buf) >= maxRequest {
			// The request, or all the client will send.
			c.SetDeadline(start.Add(connTimeout))
			var req Request
			if err := json.Unmarshal(buf, &req); err != nil {
				s.malformed(c)
				return
			}
			if req.Op != OpGet {
				s.handedOff.Add(1)
				go s.answer(c, req)
				return
			}
			s.answer(c, req)
			return
		}
		if err != nil {
			// Not yet all of it: the rest is read by a goroutine of
			// its own, within the whole deadline.
			c.SetDeadline(start.Add(connTimeout))
			s.handedOff.Add(1)
			go s.serveConn(c, io.LimitReader(io.MultiReader(bytes.NewReader(buf), c), maxRequest))
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connTimeout bounds a client's whole exchange with the agent.
const connTimeout = 5 * time.Second

// reaper forgets expired entries and closes the listener when the agent
// holds nothing.
func (s *Server) reaper(done chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		now := s.now()
		// The socket removed or replaced: the login session ended
		// (logind removes $XDG_RUNTIME_DIR), or someone wants this agent
		// gone. Forget everything and exit.
		cur, err := os.Lstat(s.ln.Addr().String())
		sessionEnd := s.sock != nil && (err != nil || !os.SameFile(cur, s.sock))
		type gone struct {
			e   Entry
			id  string
			why string
		}
		var forgotten []gone
		s.mu.Lock()
		for k, h := range s.held {
			why := ""
			switch {
			case sessionEnd:
				why = "expire-session"
			case !now.Before(h.Until):
				why = "expire-max"
			case !now.Before(h.IdleUntil):
				why = "expire-idle"
			}
			if why != "" {
				forgotten = append(forgotten, gone{h.Entry, string(h.identity), why})
				wipe(h)
				delete(s.held, k)
				s.unmark(k)
			}
		}
		empty := len(s.held) == 0
		idleStart := empty && len(forgotten) == 0 && now.Sub(s.started) < s.StartGrace
		s.mu.Unlock()
		for _, g := range forgotten {
			if s.OnForget != nil {
				s.OnForget(g.e, g.id, g.why)
			}
		}
		if sessionEnd || empty && !idleStart {
			s.close()
			return
		}
	}
}

func (s *Server) close() {
	if cur, err := os.Lstat(s.ln.Addr().String()); err == nil && s.sock != nil && os.SameFile(cur, s.sock) {
		os.Remove(s.ln.Addr().String()) // never another agent's socket
	}
	s.ln.SetUnlinkOnClose(false)
	s.ln.Close()
}

func wipe(h *held) {
	for i := range h.identity {
		h.identity[i] = 0
	}
	unlockMem(h.identity)
}

// serveConn answers, on c, the request of a client checkPeer let in that r
// reads (what has arrived of it, then the connection).
func (s *Server) serveConn(c *net.UnixConn, r io.Reader) {
	var req Request
	if err := json.NewDecoder(r).Decode(&req); err != nil {
		s.malformed(c)
		return
	}
	s.answer(c, req)
}

func (s *Server) malformed(c *net.UnixConn) {
	defer c.Close()
	json.NewEncoder(c).Encode(Response{Error: "malformed request", Dumpable: s.hard.Dumpable})
}

// answer answers req on c and closes it.
func (s *Server) answer(c *net.UnixConn, req Request) {
	defer c.Close()
	resp, forgot := s.handle(req)
	resp.PID = os.Getpid()
	resp.Dumpable = s.hard.Dumpable
	resp.MemoryLocked = s.hard.MemoryLocked
	json.NewEncoder(c).Encode(resp)
	for _, g := range forgot {
		if s.OnForget != nil {
			s.OnForget(g.Entry, string(g.identity), "lock")
		}
		wipe(g)
	}
	if len(forgot) > 0 {
		s.mu.Lock()
		empty := len(s.held) == 0
		s.mu.Unlock()
		if empty {
			s.close()
		}
	}
}

func (s *Server) handle(req Request) (Response, []*held) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch req.Op {
	case OpGet:
		h := s.held[req.Vault]
		if h == nil || !now.Before(h.Until) || !now.Before(h.IdleUntil) {
			return Response{Error: ErrNotHeld.Error()}, nil
		}
		h.IdleUntil = minTime(now.Add(h.Idle), h.Until)
		return Response{Identity: string(h.identity)}, nil
	case OpAdd:
		if req.Vault == "" || req.Identity == "" || req.Idle <= 0 || req.Max <= 0 {
			return Response{Error: "add needs a vault, an identity and two timeouts"}, nil
		}
		if old := s.held[req.Vault]; old != nil {
			wipe(old)
		}
		id := []byte(req.Identity)
		lockMem(id)
		until := now.Add(req.Max)
		s.held[req.Vault] = &held{Entry: Entry{Vault: req.Vault, Dir: req.Dir, Until: until, Idle: req.Idle,
			IdleUntil: minTime(now.Add(req.Idle), until)}, identity: id}
		s.mark(req.Vault)
		return Response{Held: []Entry{s.held[req.Vault].Entry}}, nil
	case OpLock:
		var forgot []*held
		for k, h := range s.held {
			if req.Vault == "" || k == req.Vault {
				forgot = append(forgot, h)
				delete(s.held, k)
				s.unmark(k)
			}
		}
		if len(forgot) == 0 {
			return Response{Error: ErrNotHeld.Error()}, nil
		}
		return Response{}, forgot
	case OpStatus:
		var r Response
		for _, h := range s.held {
			if req.Vault == "" || h.Vault == req.Vault {
				r.Held = append(r.Held, h.Entry)
			}
		}
		return r, nil
	}
	return Response{Error: "unknown operation"}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
