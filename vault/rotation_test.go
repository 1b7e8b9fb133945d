package vault

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDocumentOverdue(t *testing.T) {
	now := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	d := NewDocument("dev")
	d.SetSecret("OLD", []byte("x"), now.Add(-91*24*time.Hour))
	d.SetSecret("NEW", []byte("y"), now.Add(-89*24*time.Hour))
	got := d.Overdue(DefaultMaxAge, now)
	if len(got) != 1 || got[0].Name != "OLD" || got[0].Age != 91*24*time.Hour {
		t.Fatalf("Overdue = %+v", got)
	}
	// Rotation resets the age.
	d.Rotate("OLD", []byte("z"), now)
	if got := d.Overdue(DefaultMaxAge, now); len(got) != 0 {
		t.Fatalf("after rotation: %+v", got)
	}
}

func TestOverdueWarnedState(t *testing.T) {
	v := &Vault{Dir: t.TempDir(), Now: time.Now}
	// Another writer's field survives.
	if err := os.WriteFile(v.StatePath(), []byte(`{"other": {"a": 1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if v.OverdueWarnedOn("prod", "2025-06-10") {
		t.Fatal("warned before marking")
	}
	first, err := v.MarkOverdueWarned("prod", "2025-06-10")
	if err != nil || !first {
		t.Fatalf("first mark: %v %v", first, err)
	}
	if again, _ := v.MarkOverdueWarned("prod", "2025-06-10"); again {
		t.Fatal("second mark on the same day reported first")
	}
	if !v.OverdueWarnedOn("prod", "2025-06-10") || v.OverdueWarnedOn("dev", "2025-06-10") || v.OverdueWarnedOn("prod", "2025-06-11") {
		t.Fatal("state is per profile and per day")
	}
	data, _ := os.ReadFile(v.StatePath())
	if !strings.Contains(string(data), `"other"`) {
		t.Errorf("state.json lost a field: %s", data)
	}
	fi, _ := os.Stat(v.StatePath())
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", fi.Mode().Perm())
	}
	// A corrupt file reads as empty: the warning shows (to the next okv:
	// a Vault reads state.json once).
	os.WriteFile(v.StatePath(), []byte("{"), 0o600)
	v = &Vault{Dir: v.Dir, Now: time.Now}
	if v.OverdueWarnedOn("prod", "2025-06-10") {
		t.Error("corrupt state suppressed the warning")
	}
}
