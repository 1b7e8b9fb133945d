//go:build unix

package vault_test

import (
	"errors"
	"os"
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
