package vault_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

// ageDecrypt runs `age -d -i IDFILE FILE` and returns the plaintext.
func ageDecrypt(t *testing.T, agePath string, id *age.X25519Identity, file string) []byte {
	t.Helper()
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(agePath, "-d", "-i", idFile, file)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d %s: %v: %s", file, err, stderr.Bytes())
	}
	return out
}

// TestAgeDecryptsProfile: a profile okv wrote opens with the plain age
// command and the vault's identity, and holds okv's JSON document.
func TestAgeDecryptsProfile(t *testing.T) {
	agePath := requireTool(t, "age")
	v, id := fileVault(t)
	const value = "sk-proj-interop0123456789abcdefghijklmnop"
	mustSet(t, v, id, "dev", "OPENAI_API_KEY", value)
	mustSet(t, v, id, "dev", "OTHER", "second-value-xyz")

	data, err := os.ReadFile(v.ProfilePath("dev"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Errorf("profile file is not ASCII-armored: starts %q", data[:min(len(data), 40)])
	}

	plain := ageDecrypt(t, agePath, id, v.ProfilePath("dev"))
	doc, err := vault.DecodeDocument(plain, "dev")
	if err != nil {
		t.Fatalf("age's output is not an okv document: %v", err)
	}
	if doc.Okv != vault.FormatVersion || doc.Profile != "dev" {
		t.Errorf("document header okv=%d profile=%q", doc.Okv, doc.Profile)
	}
	if got := doc.Secrets["OPENAI_API_KEY"]; got == nil || got.Value != value {
		t.Errorf("OPENAI_API_KEY = %+v, want value %q", got, value)
	}
	if got := doc.Secrets["OTHER"]; got == nil || got.Value != "second-value-xyz" {
		t.Errorf("OTHER = %+v", got)
	}
}

// TestLoadReadsAgeEncryptedProfile: a document encrypted by the age
// command to the vault's recipient, armored or binary, is read by Load.
func TestLoadReadsAgeEncryptedProfile(t *testing.T) {
	agePath := requireTool(t, "age")
	v, id := fileVault(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, armored := range []bool{true, false} {
		name := "binary"
		if armored {
			name = "armored"
		}
		t.Run(name, func(t *testing.T) {
			doc := vault.NewDocument("dev")
			value := "sk-from-age-cli-" + name + "-0123456789"
			if _, err := doc.SetSecret("OPENAI_API_KEY", []byte(value), now); err != nil {
				t.Fatal(err)
			}
			plain, err := doc.Encode()
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"-r", v.Config.Recipient}
			if armored {
				args = append(args, "-a")
			}
			var stderr bytes.Buffer
			cmd := exec.Command(agePath, args...)
			cmd.Stdin = bytes.NewReader(plain)
			cmd.Stderr = &stderr
			ct, err := cmd.Output()
			if err != nil {
				t.Fatalf("age %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
			}
			if got := bytes.HasPrefix(ct, []byte("-----BEGIN")); got != armored {
				t.Fatalf("age output armored=%v, want %v", got, armored)
			}
			if err := os.WriteFile(v.ProfilePath("dev"), ct, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := v.Load("dev", ids(id))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			s := got.Secrets["OPENAI_API_KEY"]
			if s == nil || s.Value != value || !s.CreatedAt.Equal(now) {
				t.Errorf("loaded %+v, want value %q created %v", s, value, now)
			}
			// And okv can keep writing to it.
			mustSet(t, v, id, "dev", "MORE", "more-value")
		})
	}
}
