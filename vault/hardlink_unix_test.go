//go:build unix

package vault_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/okvault/okv/vault"
)

// hardLink makes name in the vault folder another name of other (the
// planted link of someone who can write the folder), or skips the test
// where the file system has no hard links.
func hardLink(t *testing.T, other, name string) {
	t.Helper()
	os.Remove(name)
	if err := os.Link(other, name); err != nil {
		t.Skip("no hard links here:", err)
	}
}

func wantHardLinkError(t *testing.T, what string, err error) {
	t.Helper()
	var le *vault.LinkError
	if !errors.As(err, &le) || le.Names != 2 {
		t.Fatalf("%s: %v, want a LinkError naming the file's 2 names", what, err)
	}
}

// TestHardLinkedAuditHeadIsNotWritten: audit.head is rewritten in place
// on every keyed append (okv run's audit record). Given another name
// outside the folder (ln audit.head elsewhere, or a head planted as a
// link to such a file), the append refuses to move it, so the other file
// keeps what it held, and says it is a hard link; the record itself is
// in the log and the lagging head still verifies and moves once the
// vault has its own copy again.
func TestHardLinkedAuditHeadIsNotWritten(t *testing.T) {
	v, id := fileVault(t)
	key := v.AuditKeys(ids(id))[0]
	appendRuns(t, v, key, 1, 2)
	other := filepath.Join(t.TempDir(), "other")
	hardLink(t, v.AuditHeadPath(), other)
	before, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Audit(vault.AuditRecord{Op: "run", Profile: "dev"}, key)
	wantHardLinkError(t, "append with a hard-linked audit.head", err)
	if got, _ := os.ReadFile(other); !bytes.Equal(got, before) {
		t.Errorf("the head's other file was written: %q, was %q", got, before)
	}

	// The vault's own copy again (the hint's cp && mv): the lagging head
	// moves, and the log verifies.
	data, _ := os.ReadFile(v.AuditHeadPath())
	os.Remove(v.AuditHeadPath())
	if err := os.WriteFile(v.AuditHeadPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	appendRuns(t, v, key, 4, 1)
	if c, err := v.VerifyAudit([]*vault.AuditKey{key}); err != nil || c.Keyed != 4 || len(c.Breaks) != 0 {
		t.Fatalf("after the head lagged one record: %+v, %v", c, err)
	}
	if got, _ := os.ReadFile(other); !bytes.Equal(got, before) {
		t.Errorf("the head's other file was written: %q", got)
	}
}

// TestHardLinkedAuditLogIsNotWritten: audit.jsonl, appended to in place,
// planted as a hard link to a file of the user's is refused: without
// the check a file without a newline (a token file, say) would be
// overwritten from its start by the record, and one ending in a JSON
// line appended to.
func TestHardLinkedAuditLogIsNotWritten(t *testing.T) {
	for name, content := range map[string]string{
		"no newline": "sk-some-token-without-a-newline",
		"jsonl":      "{\"a\":1}\n",
	} {
		t.Run(name, func(t *testing.T) {
			v, id := fileVault(t)
			key := v.AuditKeys(ids(id))[0]
			other := filepath.Join(t.TempDir(), "other")
			if err := os.WriteFile(other, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			hardLink(t, other, v.AuditPath())
			for _, k := range []*vault.AuditKey{key, nil} {
				err := v.Audit(vault.AuditRecord{Op: "run", Profile: "dev"}, k)
				wantHardLinkError(t, "append to a hard-linked audit.jsonl", err)
			}
			if got, _ := os.ReadFile(other); string(got) != content {
				t.Errorf("the log's other file was written: %q, was %q", got, content)
			}
			if _, err := os.Lstat(v.AuditHeadPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a head was written for a log that was not: %v", err)
			}
		})
	}
}

// TestHardLinkedLockIsRefused: Lock sets a wrong mode on .lock through
// the open file; planted as a hard link to a file of the user's (0644),
// it is refused and that file's mode is left alone.
func TestHardLinkedLockIsRefused(t *testing.T) {
	v, _ := idFileVault(t)
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(other, 0o644)
	hardLink(t, other, filepath.Join(v.Dir, ".lock"))
	unlock, err := v.Lock()
	if err == nil {
		unlock()
	}
	wantHardLinkError(t, "Lock with a hard-linked .lock", err)
	if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the lock's other file: %v %v, want its mode 0644 kept", fi.Mode(), err)
	}
}

// A hard-linked .lock whose mode is already 0600 is only locked (flock
// changes no file): Lock uses it, and the other name's file is unchanged.
func TestHardLinkedLockWithItsModeIsUsed(t *testing.T) {
	v, _ := idFileVault(t)
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	hardLink(t, other, filepath.Join(v.Dir, ".lock"))
	unlock, err := v.Lock()
	if err != nil {
		t.Fatalf("Lock with a hard-linked .lock of mode 0600: %v", err)
	}
	unlock()
	if b, err := os.ReadFile(other); err != nil || string(b) != "x" {
		t.Errorf("the lock's other file: %q %v", b, err)
	}
}
