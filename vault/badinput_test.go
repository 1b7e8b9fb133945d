package vault_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

// secretValue is the value the bad-input tests store; errors must never
// contain it or any 8-byte piece of it.
const secretValue = "sk-proj-Zq7RtY3vLp9XwK2mN8bC4dF6gH1jS5aE0uI"

// seededVault is a file-backed vault whose dev profile holds secretValue.
func seededVault(t *testing.T) (*vault.Vault, *age.X25519Identity) {
	t.Helper()
	v, id := fileVault(t)
	mustSet(t, v, id, "dev", "OPENAI_API_KEY", secretValue)
	return v, id
}

// TestInvalidNamesLeaveVaultUnchanged: every profile and secret name that
// breaks the naming rules is refused with an InvalidInputError, by every
// operation, and nothing in the vault folder changes.
func TestInvalidNamesLeaveVaultUnchanged(t *testing.T) {
	v, id := seededVault(t)
	badProfiles := []string{"../x", "A", "", strings.Repeat("a", 64), "-dev", "_dev", "dev/x", "dev.age", "dév", "dev ", "Dev"}
	for _, name := range badProfiles {
		before := treeState(t, v.Dir)
		errs := map[string]error{}
		_, errs["Load"] = v.Load(name, ids(id))
		errs["Update"] = v.Update(name, ids(id), setFn("X", "some-value"))
		errs["CreateProfile"] = v.CreateProfile(name, nil)
		errs["CopyProfile"] = v.CopyProfile("dev", name, ids(id), false)
		errs["RemoveProfile"] = v.RemoveProfile(name)
		for op, err := range errs {
			e := asError[*vault.InvalidInputError](t, err)
			if !strings.Contains(e.What, "profile name") {
				t.Errorf("%s(%q): error names %q, want the profile name rule", op, name, e.What)
			}
		}
		if v.HasProfile(name) {
			t.Errorf("HasProfile(%q) = true", name)
		}
		assertTreeUnchanged(t, v.Dir, before)
	}
	// The boundaries are allowed.
	for _, name := range []string{"a", "0", strings.Repeat("a", 63), "a-b_c"} {
		if err := vault.ValidateProfileName(name); err != nil {
			t.Errorf("ValidateProfileName(%q): %v", name, err)
		}
	}

	badSecrets := []string{"", "1KEY", "KEY-1", "KEY 1", "KEY=1", "KEY\x00", "ÄKEY", "A" + strings.Repeat("B", 128)}
	for _, name := range badSecrets {
		before := treeState(t, v.Dir)
		err := v.Update("dev", ids(id), setFn(name, "a-valid-value"))
		e := asError[*vault.InvalidInputError](t, err)
		if !strings.Contains(e.What, "secret name") {
			t.Errorf("secret %q: error names %q", name, e.What)
		}
		assertTreeUnchanged(t, v.Dir, before)
	}
	for _, name := range []string{"_", "a", "OPENAI_API_KEY", "A" + strings.Repeat("B", 127)} {
		if err := vault.ValidateSecretName(name); err != nil {
			t.Errorf("ValidateSecretName(%q): %v", name, err)
		}
	}
}

// TestInvalidValuesLeaveVaultUnchanged: empty, oversized and NUL-holding
// values are refused, the message says which rule, never the value.
func TestInvalidValuesLeaveVaultUnchanged(t *testing.T) {
	v, id := seededVault(t)
	big := strings.Repeat(secretValue, vault.MaxValueSize/len(secretValue)+1)
	cases := []struct {
		name, value, rule string
	}{
		{"empty", "", "empty"},
		{"over 64 KiB", big, "64 KiB"},
		{"one byte over", strings.Repeat("x", vault.MaxValueSize+1), "64 KiB"},
		{"NUL byte", secretValue[:20] + "\x00" + secretValue[20:], "NUL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, op := range []string{"set", "rotate"} {
				before := treeState(t, v.Dir)
				err := v.Update("dev", ids(id), func(d *vault.Document) error {
					if op == "rotate" {
						return d.Rotate("OPENAI_API_KEY", []byte(c.value), v.Now())
					}
					_, err := d.SetSecret("NEW_KEY", []byte(c.value), v.Now())
					return err
				})
				e := asError[*vault.InvalidInputError](t, err)
				if !strings.Contains(e.Rule, c.rule) {
					t.Errorf("%s: rule %q does not say %q", op, e.Rule, c.rule)
				}
				assertNoSecret(t, err.Error(), secretValue)
				assertTreeUnchanged(t, v.Dir, before)
			}
		})
	}
	// The largest allowed value is stored and read back whole.
	maxValue := strings.Repeat("y", vault.MaxValueSize)
	mustSet(t, v, id, "dev", "BIG", maxValue)
	doc, err := v.Load("dev", ids(id))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Secrets["BIG"].Value != maxValue || doc.Secrets["OPENAI_API_KEY"].Value != secretValue {
		t.Error("values changed")
	}
}

// flipArmoredPayloadByte changes one base64 character in the middle of
// the armored body to another valid one: the armor stays well-formed and
// only authentication can notice.
func flipArmoredPayloadByte(t *testing.T, data []byte, fromEnd bool) []byte {
	t.Helper()
	lines := bytes.Split(data, []byte("\n"))
	var body []int
	for i, l := range lines {
		if len(l) > 0 && !bytes.HasPrefix(l, []byte("-----")) {
			body = append(body, i)
		}
	}
	if len(body) < 3 {
		t.Fatalf("armored file has only %d body lines", len(body))
	}
	li := body[len(body)/2]
	if fromEnd {
		li = body[len(body)-1] // the last line: payload, not header
	}
	out := bytes.Clone(data)
	lines = bytes.Split(out, []byte("\n"))
	l := lines[li]
	if l[0] == 'A' {
		l[0] = 'B'
	} else {
		l[0] = 'A'
	}
	return bytes.Join(lines, []byte("\n"))
}

// TestDamagedProfilesAreRefused: tampered, swapped, conflicted and
// unknown profiles each get their own error; nothing is written; no
// message holds the secret.
func TestDamagedProfilesAreRefused(t *testing.T) {
	t.Run("tampered header", func(t *testing.T) {
		v, id := seededVault(t)
		damage(t, v.ProfilePath("dev"), func(b []byte) []byte { return flipArmoredPayloadByte(t, b, false) })
		expectRefused[*vault.TamperedError](t, v, id, "dev")
	})
	t.Run("tampered payload", func(t *testing.T) {
		v, id := seededVault(t)
		damage(t, v.ProfilePath("dev"), func(b []byte) []byte { return flipArmoredPayloadByte(t, b, true) })
		expectRefused[*vault.TamperedError](t, v, id, "dev")
	})
	t.Run("truncated", func(t *testing.T) {
		v, id := seededVault(t)
		damage(t, v.ProfilePath("dev"), func(b []byte) []byte { return b[:len(b)/2] })
		expectRefused[*vault.TamperedError](t, v, id, "dev")
	})
	t.Run("renamed to another profile", func(t *testing.T) {
		v, id := seededVault(t)
		if err := v.CreateProfile("prod", nil); err != nil {
			t.Fatal(err)
		}
		mustSet(t, v, id, "prod", "OPENAI_API_KEY", "sk-prod-value-0123456789abcdef")
		// dev's file takes prod's name: loading prod must not silently
		// hand out dev's keys.
		if err := os.Rename(v.ProfilePath("dev"), v.ProfilePath("prod")); err != nil {
			t.Fatal(err)
		}
		e := expectRefused[*vault.MismatchError](t, v, id, "prod")
		if e.File != "prod" || e.Inside != "dev" {
			t.Errorf("MismatchError{File: %q, Inside: %q}", e.File, e.Inside)
		}
	})
	t.Run("git conflict markers", func(t *testing.T) {
		v, id := seededVault(t)
		damage(t, v.ProfilePath("dev"), func(b []byte) []byte {
			return []byte("<<<<<<< HEAD\n" + string(b) + "=======\n" + string(b) + ">>>>>>> feature\n")
		})
		expectRefused[*vault.ConflictError](t, v, id, "dev")
	})
	t.Run("not encrypted to this vault", func(t *testing.T) {
		v, id := seededVault(t)
		other, _ := age.GenerateX25519Identity()
		ct, err := vault.Encrypt([]byte(`{"okv":1,"profile":"dev","secrets":{}}`), other.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		damage(t, v.ProfilePath("dev"), func([]byte) []byte { return ct })
		e := expectRefused[*vault.NoMatchError](t, v, id, "dev")
		if len(e.Recipients) != 1 || e.Recipients[0] != "X25519" {
			t.Errorf("NoMatchError.Recipients = %q, want [X25519]", e.Recipients)
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		v, id := seededVault(t)
		expectRefused[*vault.ProfileNotFoundError](t, v, id, "staging")
		if err := v.RemoveProfile("staging"); !errors.As(err, new(*vault.ProfileNotFoundError)) {
			t.Errorf("RemoveProfile: %v", err)
		}
		if _, err := os.Stat(v.ProfilePath("staging")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a profile file was created for an unknown profile: %v", err)
		}
	})
}

func damage(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// expectRefused checks that Load, Update and CopyProfile of profile all
// fail with E, write nothing, and do not reveal the secret.
func expectRefused[E error](t *testing.T, v *vault.Vault, id age.Identity, profile string) E {
	t.Helper()
	before := treeState(t, v.Dir)
	_, err := v.Load(profile, ids(id))
	e := asError[E](t, err)
	assertNoSecret(t, err.Error(), secretValue)
	called := false
	err = v.Update(profile, ids(id), func(d *vault.Document) error {
		called = true
		_, err := d.SetSecret("NEW", []byte("new-value"), v.Now())
		return err
	})
	asError[E](t, err)
	if called {
		t.Error("Update ran its function on a refused profile")
	}
	err = v.CopyProfile(profile, "copy", ids(id), false)
	asError[E](t, err)
	assertTreeUnchanged(t, v.Dir, before)
	return e
}

// TestUnsafePermissionsAreRefused: a vault folder or file that group or
// others can write is refused with a PermissionError whose Fix is the
// chmod that repairs it, and nothing is written.
func TestUnsafePermissionsAreRefused(t *testing.T) {
	cases := []struct {
		name string
		path func(v *vault.Vault) string
		mode os.FileMode
		fix  string
		op   func(v *vault.Vault, id age.Identity) error
	}{
		{"vault folder", func(v *vault.Vault) string { return v.Dir }, 0o770, "chmod 700 ",
			func(v *vault.Vault, _ age.Identity) error { _, err := vault.Open(v.Dir); return err }},
		{"world-writable vault folder", func(v *vault.Vault) string { return v.Dir }, 0o702, "chmod 700 ",
			func(v *vault.Vault, _ age.Identity) error { _, err := vault.Open(v.Dir); return err }},
		{"profiles folder", func(v *vault.Vault) string { return filepath.Dir(v.ProfilePath("dev")) }, 0o770, "chmod 700 ",
			func(v *vault.Vault, _ age.Identity) error { _, err := vault.Open(v.Dir); return err }},
		{"config file", func(v *vault.Vault) string { return filepath.Join(v.Dir, "config.toml") }, 0o620, "chmod 600 ",
			func(v *vault.Vault, _ age.Identity) error { _, err := vault.Open(v.Dir); return err }},
		{"profile file: load", func(v *vault.Vault) string { return v.ProfilePath("dev") }, 0o660, "chmod 600 ",
			func(v *vault.Vault, id age.Identity) error { _, err := v.Load("dev", ids(id)); return err }},
		{"profile file: update", func(v *vault.Vault) string { return v.ProfilePath("dev") }, 0o606, "chmod 600 ",
			func(v *vault.Vault, id age.Identity) error {
				return v.Update("dev", ids(id), setFn("NEW", "new-value"))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, id := seededVault(t)
			p := c.path(v)
			if err := os.Chmod(p, c.mode); err != nil {
				t.Fatal(err)
			}
			before := treeState(t, v.Dir)
			err := c.op(v, id)
			e := asError[*vault.PermissionError](t, err)
			if e.Path != p {
				t.Errorf("PermissionError.Path = %q, want %q", e.Path, p)
			}
			if want := c.fix + p; e.Fix != want {
				t.Errorf("Fix = %q, want %q", e.Fix, want)
			}
			assertTreeUnchanged(t, v.Dir, before)
			// The suggested fix works.
			os.Chmod(p, c.mode&^0o077)
			if err := c.op(v, id); err != nil {
				t.Errorf("after %s: %v", e.Fix, err)
			}
		})
	}
}
