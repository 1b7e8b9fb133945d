// Package agent is okv's unlock agent, in the manner of ssh-agent: a
// per-user process that holds vault identities (never profile plaintext) in
// memory for a while, and hands them to the same user's okv commands over a
// Unix socket.
//
// The protocol is one JSON request and one JSON response per connection
// (encoding/json over the socket): small enough that no RPC library earns
// its place. Identities never appear in a log or an error.
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Operations.
const (
	OpGet    = "get"    // the identity of Vault
	OpAdd    = "add"    // hold Identity for Vault
	OpLock   = "lock"   // forget Vault ("" forgets all)
	OpStatus = "status" // what is held, until when
)

// Request is what a client sends.
type Request struct {
	Op       string `json:"op"`
	Vault    string `json:"vault,omitempty"`
	Identity string `json:"identity,omitempty"`
	// Dir is the vault's folder, for the audit record of an expiry.
	Dir string `json:"dir,omitempty"`
	// Idle and Max are the timeouts of an add, in nanoseconds.
	Idle time.Duration `json:"idle,omitempty"`
	Max  time.Duration `json:"max,omitempty"`
}

// Response is what the agent answers.
type Response struct {
	Error    string  `json:"error,omitempty"`
	Identity string  `json:"identity,omitempty"`
	Held     []Entry `json:"held,omitempty"`
	PID      int     `json:"pid,omitempty"`
	// Dumpable is the agent's prctl(PR_GET_DUMPABLE) (-1 where the OS has
	// none); MemoryLocked says how its memory is locked.
	Dumpable     int    `json:"dumpable"`
	MemoryLocked string `json:"memory_locked,omitempty"`
}

// Entry is one held vault, without its identity.
type Entry struct {
	Vault     string        `json:"vault"`
	Dir       string        `json:"dir,omitempty"`
	Until     time.Time     `json:"until"`
	IdleUntil time.Time     `json:"idle_until"`
	Idle      time.Duration `json:"idle"`
}

// ErrNotHeld: the agent does not hold this vault.
var ErrNotHeld = errors.New("the agent does not hold this vault")

// ErrUnavailable: no agent runs (no socket, or nobody listening).
var ErrUnavailable = errors.New("no okv agent is running")

// Dir is the folder of the agent's socket and lock file:
// $XDG_RUNTIME_DIR/okv when set, else fallback (a folder under the vault).
func Dir(getenv func(string) string, fallback string) string {
	if rt := getenv("XDG_RUNTIME_DIR"); rt != "" && filepath.IsAbs(rt) {
		return filepath.Join(rt, "okv")
	}
	return fallback
}

// SocketPath is the socket in dir.
func SocketPath(dir string) string { return filepath.Join(dir, "agent.sock") }

// LockPath is the file two 'okv unlock' lock so that one agent starts.
func LockPath(dir string) string { return filepath.Join(dir, "agent.lock") }

// EnsureDir creates dir 0700 and refuses one another user owns or others
// can enter.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	if err := checkOwner(fi); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// Call sends one request to the agent at socket and returns its answer.
func Call(socket string, req Request) (*Response, error) {
	var resp Response
	if err := roundTrip(socket, req, &resp); err != nil {
		return nil, err
	}
	return &resp, answerError(resp.Error)
}

// answerError is the error of an answer whose error field is e.
func answerError(e string) error {
	switch e {
	case "":
		return nil
	case ErrNotHeld.Error():
		return ErrNotHeld
	}
	return fmt.Errorf("okv agent: %s", e)
}

// Get asks the agent for the identity it holds for vault: what every okv
// command that unlocks through the agent asks first, okv run's start-up
// among them (issue 21). It is Call for a get, with types of only the
// fields a get uses: a fresh process pays encoding/json's analysis of each
// type it meets, and Request and Response (with Entry and its times) cost
// about 0.2 ms of okv run's start-up, these two a few microseconds.
func Get(socket, vault string) (string, error) {
	req := struct {
		Op    string `json:"op"`
		Vault string `json:"vault"`
	}{OpGet, vault}
	var resp struct {
		Error    string `json:"error"`
		Identity string `json:"identity"`
	}
	if err := roundTrip(socket, req, &resp); err != nil {
		return "", err
	}
	if err := answerError(resp.Error); err != nil {
		return "", err
	}
	return resp.Identity, nil
}

// ioTimeout bounds a client's exchange with the agent: on Unix the connect
// and each read and write (dial), on Windows the whole exchange.
var ioTimeout = 5 * time.Second

// roundTrip writes req to the agent at socket and decodes its answer into
// resp.
func roundTrip(socket string, req, resp any) error {
	// Asked before every unlock by a backend (okv run's start-up, issue
	// 21): without a socket there is no agent, and a stat is cheaper than
	// a socket, a failed connect and a close through the net package.
	if _, err := os.Lstat(socket); errors.Is(err, fs.ErrNotExist) {
		return ErrUnavailable
	}
	c, err := dial(socket)
	if err != nil {
		return ErrUnavailable
	}
	defer c.Close()
	// A refused client may find the connection closed before its request
	// is written: the agent's answer (the refusal) is read either way.
	werr := json.NewEncoder(c).Encode(req)
	if err := json.NewDecoder(c).Decode(resp); err != nil {
		if werr != nil {
			return fmt.Errorf("talking to the okv agent: %w", werr)
		}
		// The socket's receive timeout (dial) ends a read with EAGAIN.
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("the okv agent did not answer within %s", ioTimeout)
		}
		return fmt.Errorf("the okv agent did not answer (it refuses clients of another user): %w", err)
	}
	return nil
}
