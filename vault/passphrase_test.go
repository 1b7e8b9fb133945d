package vault_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

type fakePrompter struct {
	pass  string
	calls int
}

func (p *fakePrompter) Passphrase(string) ([]byte, error) {
	p.calls++
	return []byte(p.pass), nil
}

// TestPassphraseBackend: a vault created with the passphrase backend
// keeps its identity in identity.age, which the age command opens with
// the passphrase; the vault unlocks with the right passphrase, refuses a
// wrong one with ErrWrongPassphrase, and without a terminal says so.
//
// Init uses age's default scrypt work factor, which costs about a second,
// and over ten under -race: the test runs in parallel with the others and
// pays it only once (plus once for age -d, natively).
func TestPassphraseBackend(t *testing.T) {
	t.Parallel()
	const pass = "correct horse battery staple"
	dir := filepath.Join(t.TempDir(), "vault")
	v, err := vault.Init(dir, vault.InitOptions{Backend: vault.BackendPassphrase, Passphrase: []byte(pass)})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if v, err = vault.Open(dir); err != nil {
		t.Fatal(err)
	}
	if v.Config.Backend != vault.BackendPassphrase {
		t.Errorf("backend %q", v.Config.Backend)
	}
	idPath := filepath.Join(dir, "identity.age")
	fi, err := os.Stat(idPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.age mode %04o, want 0600", fi.Mode().Perm())
	}

	t.Run("no terminal", func(t *testing.T) {
		_, err := (&vault.Unlocker{}).Identities(v)
		if !errors.Is(err, vault.ErrNoTerminal) {
			t.Fatalf("nil Prompter: %v, want ErrNoTerminal", err)
		}
	})

	var idText []byte
	t.Run("age decrypts identity.age", func(t *testing.T) {
		agePath := requireTool(t, "age")
		idText = ageDecryptPassphrase(t, agePath, idPath, pass)
	})
	if idText == nil {
		// No age command to check with: open the file Init wrote
		// in-process instead (another full scrypt).
		ids, err := (&vault.Unlocker{Prompter: &fakePrompter{pass: pass}}).Identities(v)
		if err != nil {
			t.Fatalf("right passphrase: %v", err)
		}
		x, ok := ids[0].(*age.X25519Identity)
		if !ok {
			t.Fatalf("identity.age holds a %T", ids[0])
		}
		idText = []byte(x.String() + "\n")
	}
	fileIDs, err := age.ParseIdentities(bytes.NewReader(idText))
	if err != nil || len(fileIDs) != 1 || vault.RecipientOf(fileIDs[0]) != v.Config.Recipient {
		t.Fatalf("identity.age does not hold the vault's identity (%v)", err)
	}

	// From here on, identity.age holds the same identity under a small
	// work factor (age reads it from the file), so each unlock is quick.
	rewriteIdentity(t, idPath, pass, idText)

	t.Run("right passphrase", func(t *testing.T) {
		p := &fakePrompter{pass: pass}
		u := &vault.Unlocker{Prompter: p}
		got, err := u.Identities(v)
		if err != nil {
			t.Fatalf("Identities: %v", err)
		}
		if len(got) != 1 || vault.RecipientOf(got[0]) != v.Config.Recipient {
			t.Fatal("unlocked an identity that is not the vault's")
		}
		mustSet(t, v, got[0], "dev", "OPENAI_API_KEY", secretValue)
		if _, err := v.Load("dev", got); err != nil {
			t.Fatal(err)
		}
		// Asked once per Unlocker, not once per use.
		if _, err := u.Identities(v); err != nil || p.calls != 1 {
			t.Errorf("second Identities: %v, prompted %d times", err, p.calls)
		}
	})

	t.Run("wrong passphrase", func(t *testing.T) {
		for _, wrong := range []string{"wrong horse battery staple", pass + " ", "Correct horse battery staple"} {
			_, err := (&vault.Unlocker{Prompter: &fakePrompter{pass: wrong}}).Identities(v)
			if !errors.Is(err, vault.ErrWrongPassphrase) {
				t.Errorf("passphrase %q: %v, want ErrWrongPassphrase", wrong, err)
			}
			if err != nil {
				assertNoSecret(t, err.Error(), pass)
			}
		}
		if _, err := (&vault.Unlocker{Prompter: &fakePrompter{pass: ""}}).Identities(v); err == nil {
			t.Error("the empty passphrase unlocked the vault")
		}
	})

	t.Run("tampered identity file", func(t *testing.T) {
		damage(t, idPath, func(b []byte) []byte { return flipArmoredPayloadByte(t, b, true) })
		_, err := (&vault.Unlocker{Prompter: &fakePrompter{pass: pass}}).Identities(v)
		if err == nil || errors.Is(err, vault.ErrWrongPassphrase) {
			t.Errorf("tampered identity.age: %v, want a damage error, not a wrong passphrase", err)
		}
	})
}

// rewriteIdentity writes identity.age holding idText, encrypted with pass
// under a low scrypt work factor.
func rewriteIdentity(t *testing.T, path, pass string, idText []byte) {
	t.Helper()
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	ct, err := vault.Encrypt(idText, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, ct, 0o600); err != nil {
		t.Fatal(err)
	}
}
