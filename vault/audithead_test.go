package vault_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/okvault/okv/vault"
)

// TestAuditHeadMovesInPlace: a keyed append rewrites audit.head in place
// (the same file, one write, issue 21) rather than renaming a new one over
// it; a head longer than the new one (padded, as a shorter rewrite leaves
// it) still reads, moves and verifies; and nothing but the log and its
// head is left in the folder.
func TestAuditHeadMovesInPlace(t *testing.T) {
	v, id := fileVault(t)
	key := v.AuditKeys(ids(id))[0]
	appendRuns(t, v, key, 1, 2)
	before, err := os.Stat(v.AuditHeadPath())
	if err != nil {
		t.Fatal(err)
	}
	appendRuns(t, v, key, 3, 1)
	after, err := os.Stat(v.AuditHeadPath())
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("audit.head was replaced by another file, not moved in place")
	}
	head, err := os.ReadFile(v.AuditHeadPath())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(head, []byte("\n")) != 1 || !bytes.HasSuffix(head, []byte("}\n")) {
		t.Fatalf("head %q: want one JSON line", head)
	}

	// A head as a longer one rewritten with a shorter leaves it: spaces
	// before the newline.
	padded := append(bytes.TrimSuffix(head, []byte("\n")), bytes.Repeat([]byte(" "), 40)...)
	if err := os.WriteFile(v.AuditHeadPath(), append(padded, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := v.VerifyAudit([]*vault.AuditKey{key}); err != nil || len(c.Breaks) != 0 {
		t.Fatalf("padded head: %+v, %v", c, err)
	}
	appendRuns(t, v, key, 4, 1)
	moved, err := os.ReadFile(v.AuditHeadPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != len(padded)+1 || bytes.Equal(moved[:len(head)], head) {
		t.Errorf("head after the move: %q (want the new head padded to %d bytes)", moved, len(padded)+1)
	}
	c, err := v.VerifyAudit([]*vault.AuditKey{key})
	if err != nil || c.Keyed != 4 || len(c.Breaks) != 0 {
		t.Fatalf("after moving a padded head: %+v, %v", c, err)
	}
	// Moved in place, the head is still checked: edited, it stops moving.
	edited := bytes.Replace(moved, []byte(`"records":4`), []byte(`"records":9`), 1)
	if err := os.WriteFile(v.AuditHeadPath(), edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Audit(vault.AuditRecord{Op: "get", Profile: "dev"}, key); err == nil {
		t.Fatalf("append over an edited head: no mismatch reported")
	}
	if got, _ := os.ReadFile(v.AuditHeadPath()); !bytes.Equal(got, edited) {
		t.Errorf("an edited head was moved: %q", got)
	}
	ents, err := os.ReadDir(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if bytes.HasPrefix([]byte(e.Name()), []byte(".audit.head.tmp")) {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}
