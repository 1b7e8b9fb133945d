package vault_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/okvault/okv/vault"
)

// TestIdentityBackupRoundTrip: an export opens with its passphrase only,
// and holds the identity as an age identity file.
func TestIdentityBackupRoundTrip(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	data, err := vault.ExportIdentity(id, []byte("correct horse battery"), "okv-0123", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "AGE-SECRET-KEY") || !strings.HasPrefix(string(data), "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("export is not an armored age file:\n%s", data)
	}
	got, err := vault.ImportIdentity("b.age", data, []byte("correct horse battery"))
	if err != nil || got.String() != id.String() {
		t.Fatalf("import: %v", err)
	}
	if _, err := vault.ImportIdentity("b.age", data, []byte("wrong horse")); !errors.Is(err, vault.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	// An age file encrypted to a key, not a passphrase, is not a backup.
	ct, _ := vault.Encrypt([]byte(id.String()+"\n"), id.Recipient())
	var be *vault.BackupFileError
	if _, err := vault.ImportIdentity("k.age", ct, []byte("x")); !errors.As(err, &be) || !strings.Contains(err.Error(), "not encrypted with a passphrase") {
		t.Errorf("key-encrypted file: %v", err)
	}
	if _, err := vault.ImportIdentity("x", []byte("hello"), []byte("x")); !errors.As(err, &be) {
		t.Errorf("not an age file: %v", err)
	}
}

// TestRestoreKeychainIdentity: only the vault's own identity goes back,
// and never over another item.
func TestRestoreKeychainIdentity(t *testing.T) {
	k := vault.MapKeychain{}
	v, err := vault.Init(filepath.Join(t.TempDir(), "v"), vault.InitOptions{Backend: vault.BackendKeychain, Keychain: k})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := k.Get(vault.KeychainService, v.Config.VaultID)
	id, _ := age.ParseX25519Identity(s)
	other, _ := age.GenerateX25519Identity()

	if already, err := v.RestoreKeychainIdentity(k, id); err != nil || !already {
		t.Errorf("same identity present: %v %v", already, err)
	}
	var mis *vault.IdentityMismatchError
	if _, err := v.RestoreKeychainIdentity(k, other); !errors.As(err, &mis) {
		t.Errorf("another identity: %v", err)
	}
	k.Set(vault.KeychainService, v.Config.VaultID, other.String())
	if _, err := v.RestoreKeychainIdentity(k, id); !errors.Is(err, vault.ErrKeychainHoldsOther) {
		t.Errorf("keychain holds another: %v", err)
	}
	if s, _ := k.Get(vault.KeychainService, v.Config.VaultID); s != other.String() {
		t.Error("the other keychain item was replaced")
	}
	k.Delete(vault.KeychainService, v.Config.VaultID)
	if already, err := v.RestoreKeychainIdentity(k, id); err != nil || already {
		t.Fatalf("restore: %v %v", already, err)
	}
	if s, _ := k.Get(vault.KeychainService, v.Config.VaultID); s != id.String() {
		t.Error("not restored")
	}

	// The export record counts for this identity only.
	if _, ok := v.IdentityExportedAt(); ok {
		t.Error("exported before any export")
	}
	if err := v.MarkIdentityExported(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.IdentityExportedAt(); !ok {
		t.Error("export not recorded")
	}
	v.Config.Recipient = other.Recipient().String()
	if _, ok := v.IdentityExportedAt(); ok {
		t.Error("an export of another identity counts")
	}
}

// TestWriteFileExclusive: a new 0600 file, never over an existing one.
func TestWriteFileExclusive(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "backup.age")
	if err := vault.WriteFileExclusive(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := vault.WriteFileExclusive(p, []byte("two")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second write: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("replaced: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestUnprotectedIdentityFile: a private key others can read is refused;
// plugin identities (not secret) are not.
func TestUnprotectedIdentityFile(t *testing.T) {
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	key := filepath.Join(dir, "key.txt")
	os.WriteFile(key, []byte(id.String()+"\n"), 0o600)
	if _, err := vault.ReadIdentityFile(key); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		os.Chmod(key, mode)
		var ue *vault.UnprotectedIdentityError
		_, err := vault.ReadIdentityFile(key)
		if !errors.As(err, &ue) || ue.Fix() != "chmod 600 "+key {
			t.Errorf("mode %04o: %v", mode, err)
		}
		if _, err := vault.RecipientOfIdentityFile(key); !errors.As(err, &ue) {
			t.Errorf("recipient of a %04o file: %v", mode, err)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET") {
			t.Error("the error quotes the key")
		}
	}
	hw := filepath.Join(dir, "hw.txt")
	os.WriteFile(hw, []byte(plugin.EncodeIdentity("okvtest", []byte("0123456789abcdef0123456789abcdef"))+"\n"), 0o644)
	os.Chmod(hw, 0o644)
	if _, err := vault.ReadIdentityFile(hw); err != nil {
		t.Errorf("plugin-only identity file 0644: %v", err)
	}
}
