package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// An agent marks each vault it holds with an empty file in HeldDir, so
// that okv can tell without a round trip over the socket that the agent
// does not hold a vault. okv asks the agent before every unlock by a
// backend; with an agent up for other vaults that was a connection, a
// request and the agent's answer on every okv run of a keychain vault
// (issue 21). A mark only saves the question: the identity itself comes
// over the socket, from an agent whose peer is checked, as before.
//
// HeldDir exists only while an agent that writes marks runs: an okv that
// finds none (an agent of an earlier okv, or none at all) asks the agent
// as it always did, and a mark left by an agent that was killed only
// costs that question.

// HeldDir is the folder of the marks, in the agent's folder dir.
func HeldDir(dir string) string { return filepath.Join(dir, "held") }

// markName is the file name of vault's mark, and false for a vault id
// that is not a plain file name (such a vault is always asked for). Only
// ids without letter case get a mark (lowercase letters, digits, '-' and
// '_': okv's own ids are okv-<16 hex digits>, but a hand-edited
// config.toml may hold any vault_id). On a file system that folds case
// (macOS's default APFS, Windows) "OKV-A" and "okv-a" would name one
// mark, and the lock of one would remove the other's: MayHold would then
// say the agent does not hold a vault it holds, and okv would unlock it
// again by its backend. An id with a capital is asked for every time.
// (No '.', either: Windows drops a name's trailing dots.)
func markName(vault string) (string, bool) {
	if vault == "" || len(vault) > 200 {
		return "", false
	}
	for _, c := range vault {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", false
		}
	}
	return vault, true
}

// MayHold reports whether the agent whose folder is dir may hold vault:
// false only when its marks say it does not.
func MayHold(dir, vault string) bool {
	name, ok := markName(vault)
	if !ok {
		return true
	}
	held := HeldDir(dir)
	if _, err := os.Lstat(filepath.Join(held, name)); !errors.Is(err, fs.ErrNotExist) {
		return true // marked, or unreadable: ask
	}
	// No mark: the agent does not hold it, if it is one that marks.
	fi, err := os.Lstat(held)
	return err != nil || !fi.IsDir()
}

// mark records that the agent holds vault (holding s.mu).
func (s *Server) mark(vault string) {
	if name, ok := markName(vault); ok && s.heldDir != "" {
		// O_EXCL: never through a link; an existing mark stays.
		if f, err := os.OpenFile(filepath.Join(s.heldDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			f.Close()
		}
	}
}

// unmark records that the agent no longer holds vault.
func (s *Server) unmark(vault string) {
	if name, ok := markName(vault); ok && s.heldDir != "" {
		os.Remove(filepath.Join(s.heldDir, name))
	}
}

// openHeldDir makes the marks' folder, empty, beside the socket; an agent
// that cannot keep marks works without them (its clients ask it).
func (s *Server) openHeldDir(socket string) {
	d := HeldDir(filepath.Dir(socket))
	os.RemoveAll(d) // a killed agent's marks: this agent holds nothing yet
	if err := os.Mkdir(d, 0o700); err != nil {
		return
	}
	// The folder's owner, by a name no vault has (a mark's never starts
	// with a dot): an inode number can be reused by a new agent's folder.
	var b [8]byte
	rand.Read(b[:])
	owner := filepath.Join(d, ".agent-"+hex.EncodeToString(b[:]))
	if f, err := os.OpenFile(owner, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
		s.heldDir, s.heldOwner = d, owner
	}
}

// closeHeldDir removes the marks' folder as the agent stops, unless it is
// no longer the one this agent made (a new agent started while this one
// was still stopping: the folder is that agent's).
func (s *Server) closeHeldDir() {
	if s.heldDir == "" {
		return
	}
	if _, err := os.Lstat(s.heldOwner); err == nil {
		os.RemoveAll(s.heldDir)
	}
}
