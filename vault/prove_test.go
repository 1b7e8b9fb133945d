package vault_test

import (
	"errors"
	"testing"

	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

// TestCheckIdentities: the vault's own identity opens it; a fresh key,
// which an identity-file unlock accepts just as well, does not.
func TestCheckIdentities(t *testing.T) {
	v, id := seededVault(t)
	if err := v.CheckIdentities(ids(id)); err != nil {
		t.Fatalf("the vault's own identity: %v", err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var nm *vault.NoMatchError
	if err := v.CheckIdentities(ids(other)); !errors.As(err, &nm) {
		t.Fatalf("another key: got %v, want a NoMatchError", err)
	}
}
