//go:build unix

package vault_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/okvault/okv/vault"
)

// A FIFO where a vault file goes is refused, not waited on.
func TestFIFOIsRefused(t *testing.T) {
	v, ids := idFileVault(t)
	os.Remove(v.ProfilePath("dev"))
	if err := syscall.Mkfifo(v.ProfilePath("dev"), 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	var le *vault.LinkError
	if _, err := v.Load("dev", ids); !errors.As(err, &le) {
		t.Errorf("FIFO profile: %v", err)
	}
}

// The lock file: a FIFO is refused (not locked through), and an existing
// lock file that others can read is set back to 0600.
func TestLockFileIsChecked(t *testing.T) {
	v, _ := idFileVault(t)
	p := filepath.Join(v.Dir, ".lock")
	os.Remove(p)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	var le *vault.LinkError
	if _, err := v.Lock(); !errors.As(err, &le) {
		t.Errorf("FIFO .lock: %v", err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	unlock, err := v.Lock()
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if fi, err := os.Lstat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf(".lock after Lock: %v %v", fi.Mode(), err)
	}
}
