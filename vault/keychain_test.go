//go:build linux

package vault_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	dbus "github.com/godbus/dbus/v5"

	"github.com/okvault/okv/internal/testkeyring"
	"github.com/okvault/okv/vault"
)

// startKeyring starts a private D-Bus session with an unlocked
// gnome-keyring and points this process at it (go-keyring connects to the
// bus named by the process environment, so these tests are not parallel).
func startKeyring(t *testing.T) *testkeyring.Keyring {
	t.Helper()
	if !testkeyring.Available() {
		if testkeyring.Required() {
			t.Fatal("OKV_REQUIRE_KEYRING=1 but dbus-daemon or gnome-keyring-daemon is missing")
		}
		t.Skip("dbus-daemon or gnome-keyring-daemon is not installed")
	}
	// A short folder: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "okv-kr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	k, err := testkeyring.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	for _, kv := range k.Env(nil) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	t.Setenv("HOME", filepath.Join(dir, "home"))
	// godbus caches the session bus connection process-wide: drop it
	// while the environment still names this test's bus, so the next test
	// connects to its own.
	t.Cleanup(closeSessionBus)
	return k
}

func closeSessionBus() {
	if c, err := dbus.SessionBus(); err == nil {
		c.Close()
	}
}

// TestOSKeychainSecretService exercises OSKeychain against a real Secret
// Service: store, read, delete, a missing item, and a vault created with
// the keychain backend unlocking through it.
func TestOSKeychainSecretService(t *testing.T) {
	k := startKeyring(t)
	kc := vault.OSKeychain{Timeout: 10 * time.Second}
	const user = "okv-test-roundtrip"
	const secret = "AGE-SECRET-KEY-1TESTVALUE"

	if _, err := kc.Get(vault.KeychainService, user); !errors.Is(err, vault.ErrKeychainItemMissing) {
		t.Fatalf("Get before Set: %v, want ErrKeychainItemMissing", err)
	}
	if err := kc.Set(vault.KeychainService, user, secret); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := kc.Get(vault.KeychainService, user)
	if err != nil || got != secret {
		t.Fatalf("Get = %q, %v; want %q", got, err, secret)
	}
	// It really is in the Secret Service, where other tools see it.
	if s, err := k.Lookup(vault.KeychainService, user); err != nil || s != secret {
		t.Errorf("secret-tool lookup = %q, %v", s, err)
	}
	if err := kc.Set(vault.KeychainService, user, secret+"2"); err != nil {
		t.Fatalf("Set over an existing item: %v", err)
	}
	if got, _ := kc.Get(vault.KeychainService, user); got != secret+"2" {
		t.Errorf("after overwrite Get = %q", got)
	}
	if err := kc.Delete(vault.KeychainService, user); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = kc.Get(vault.KeychainService, user)
	if !errors.Is(err, vault.ErrKeychainItemMissing) {
		t.Fatalf("Get after Delete: %v, want ErrKeychainItemMissing", err)
	}
	if err := kc.Delete(vault.KeychainService, user); !errors.Is(err, vault.ErrKeychainItemMissing) {
		t.Errorf("Delete of a missing item: %v, want ErrKeychainItemMissing", err)
	}

	t.Run("init and unlock", func(t *testing.T) {
		v, err := vault.Init(filepath.Join(t.TempDir(), "vault"), vault.InitOptions{Backend: vault.BackendKeychain, Keychain: kc})
		if err != nil {
			t.Fatalf("Init: %v", err)
		}
		v, err = vault.Open(v.Dir)
		if err != nil {
			t.Fatal(err)
		}
		u := &vault.Unlocker{Keychain: kc}
		got, err := u.Identities(v)
		if err != nil {
			t.Fatalf("Identities: %v", err)
		}
		if len(got) != 1 || vault.RecipientOf(got[0]) != v.Config.Recipient {
			t.Fatalf("keychain identity does not match the vault recipient %s", v.Config.Recipient)
		}
		mustSet(t, v, got[0], "dev", "OPENAI_API_KEY", secretValue)
		doc, err := v.Load("dev", got)
		if err != nil || doc.Secrets["OPENAI_API_KEY"].Value != secretValue {
			t.Fatalf("Load: %v", err)
		}

		// The identity in the keychain opens the profile with plain age.
		t.Run("age decrypts with the keychain identity", func(t *testing.T) {
			agePath := requireTool(t, "age")
			raw, err := k.Lookup(vault.KeychainService, v.Config.VaultID)
			if err != nil {
				t.Fatal(err)
			}
			id, err := age.ParseX25519Identity(strings.TrimSpace(raw))
			if err != nil {
				t.Fatalf("the keychain item is not an age identity: %v", err)
			}
			doc, err := vault.DecodeDocument(ageDecrypt(t, agePath, id, v.ProfilePath("dev")), "dev")
			if err != nil || doc.Secrets["OPENAI_API_KEY"].Value != secretValue {
				t.Fatalf("age -d output: %v", err)
			}
		})

		// The item vanishes (keychain reset, another machine): a clear
		// "missing" error, not a generic failure.
		if err := kc.Delete(vault.KeychainService, v.Config.VaultID); err != nil {
			t.Fatal(err)
		}
		_, err = (&vault.Unlocker{Keychain: kc}).Identities(v)
		if !errors.Is(err, vault.ErrKeychainItemMissing) {
			t.Errorf("Identities after the item vanished: %v, want ErrKeychainItemMissing", err)
		}
	})
}

// TestOSKeychainLocked: a locked keyring nobody can unlock (no display
// for the prompt) gives ErrKeychainLocked or ErrKeychainTimeout, never a
// hang or an "unavailable".
func TestOSKeychainLocked(t *testing.T) {
	k := startKeyring(t)
	kc := vault.OSKeychain{Timeout: 3 * time.Second}
	if err := kc.Set(vault.KeychainService, "okv-locked", "value"); err != nil {
		t.Fatal(err)
	}
	if err := k.Lock(); err != nil {
		t.Fatalf("locking the test keyring: %v", err)
	}
	_, err := kc.Get(vault.KeychainService, "okv-locked")
	if !errors.Is(err, vault.ErrKeychainLocked) && !errors.Is(err, vault.ErrKeychainTimeout) {
		t.Fatalf("Get from a locked keyring: %v, want ErrKeychainLocked or ErrKeychainTimeout", err)
	}
	t.Logf("locked keyring: %v", err)
}

// TestOSKeychainNoBus: with no session bus, every call fails fast with
// ErrKeychainUnavailable, and Init leaves nothing behind.
func TestOSKeychainNoBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-such-bus"))
	kc := vault.OSKeychain{Timeout: 5 * time.Second}
	_, err := kc.Get(vault.KeychainService, "x")
	if !errors.Is(err, vault.ErrKeychainUnavailable) {
		t.Errorf("Get: %v, want ErrKeychainUnavailable", err)
	}
	if err := kc.Set(vault.KeychainService, "x", "y"); !errors.Is(err, vault.ErrKeychainUnavailable) {
		t.Errorf("Set: %v, want ErrKeychainUnavailable", err)
	}
	if err := kc.Delete(vault.KeychainService, "x"); !errors.Is(err, vault.ErrKeychainUnavailable) {
		t.Errorf("Delete: %v, want ErrKeychainUnavailable", err)
	}
	dir := filepath.Join(t.TempDir(), "vault")
	_, err = vault.Init(dir, vault.InitOptions{Backend: vault.BackendKeychain, Keychain: kc})
	if !errors.Is(err, vault.ErrKeychainUnavailable) {
		t.Errorf("Init: %v, want ErrKeychainUnavailable", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed Init left %s behind", dir)
	}
}
