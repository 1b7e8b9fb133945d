//go:build unix

package vault_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/okvault/okv/vault"
)

// A .okv-profile that another user owns never chooses the profile: okv
// stops with an error instead of reading it (or a parent's pin).
func TestForeignProfilePinIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a pin to another user")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, vault.ProfileFileName), []byte("dev\n"), 0o644)
	p := filepath.Join(sub, vault.ProfileFileName)
	if err := os.WriteFile(p, []byte("prod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if name, path, err := vault.FindProfilePin(sub); err != nil || name != "prod" || path != p {
		t.Fatalf("own pin: %q %q %v", name, path, err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	name, _, err := vault.FindProfilePin(sub)
	if err == nil || !strings.Contains(err.Error(), "belongs to another user") || name != "" {
		t.Fatalf("foreign pin: %q %v", name, err)
	}
}
