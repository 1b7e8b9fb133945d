package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/vault"
)

func TestRotateHistoryRollback(t *testing.T) {
	e := newTestEnv(t)
	e.ok("", "profile", "create", "prod")
	keys := []string{e.key("v0")}
	e.ok(keys[0]+"\n", "set", "-p", "prod")

	// Rotating a secret that does not exist says how to create it.
	_, errs := e.fail(1, "x\n", "rotate", "ANTHROPIC_API_KEY", "-p", "prod")
	mustContain(t, "rotate missing", errs, `profile "prod" has no secret ANTHROPIC_API_KEY`, "okv set ANTHROPIC_API_KEY -p prod")

	for i := 1; i <= 7; i++ {
		e.now = e.now.Add(time.Hour)
		k := e.key(fmt.Sprintf("v%d", i))
		keys = append(keys, k)
		_, errs := e.ok(k+"\n", "rotate", "-p", "prod")
		mustContain(t, "rotate", errs, "rotated OPENAI_API_KEY in profile prod", "okv rollback OPENAI_API_KEY -p prod")
	}
	s := e.load("prod").Secrets["OPENAI_API_KEY"]
	if s.Value != keys[7] {
		t.Fatalf("current value is not the last rotated one")
	}
	if len(s.History) != vault.MaxHistory {
		t.Fatalf("history has %d entries, want %d", len(s.History), vault.MaxHistory)
	}
	for i, r := range s.History { // oldest first: v2..v6
		if r.Value != keys[i+2] {
			t.Errorf("history[%d] is not v%d", i, i+2)
		}
	}

	// history: current + 5 retired, redacted, newest first.
	out, _ := e.ok("", "history", "-p", "prod")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 {
		t.Fatalf("history printed %d lines, want 7:\n%s", len(lines), out)
	}
	mustContain(t, "history current", lines[1], "current", "sk-proj-…9xv7", "in use since 2025-06-10 16:00:00Z")
	mustContain(t, "history newest retired", lines[2], "1", "sk-proj-…9xv6", "2025-06-10 16:00:00Z")
	mustContain(t, "history oldest retired", lines[6], "5", "sk-proj-…9xv2", "2025-06-10 12:00:00Z")

	// The same value is refused and nothing is written.
	before := e.readFile("profiles/prod.age")
	auditBefore := e.readFile("audit.jsonl")
	_, errs = e.fail(1, keys[7]+"\n", "rotate", "-p", "prod")
	mustContain(t, "same value", errs, "okv: error: OPENAI_API_KEY in profile prod: the new value is the same as the current one", "okv: hint: nothing was changed")
	if !bytes.Equal(before, e.readFile("profiles/prod.age")) {
		t.Error("rotating to the same value rewrote the profile")
	}
	if !bytes.Equal(auditBefore, e.readFile("audit.jsonl")) {
		t.Error("rotating to the same value wrote an audit record")
	}

	// rollback restores v6 and retires v7; the audit log records it.
	e.now = e.now.Add(time.Hour)
	_, errs = e.ok("", "rollback", "-p", "prod")
	mustContain(t, "rollback", errs, "rolled back OPENAI_API_KEY in profile prod to its previous value (sk-proj-…9xv6)")
	if got := e.value("prod", "OPENAI_API_KEY"); got != keys[6] {
		t.Fatal("rollback did not restore the previous value")
	}
	s = e.load("prod").Secrets["OPENAI_API_KEY"]
	if last := s.History[len(s.History)-1].Value; last != keys[7] {
		t.Error("rollback did not retire the replaced value")
	}
	out, _ = e.ok("", "log", "--op", "rollback", "--json")
	var rec vault.AuditRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("log --json: %v\n%s", err, out)
	}
	if rec.Op != "rollback" || rec.Profile != "prod" || len(rec.Secrets) != 1 || rec.Secrets[0] != "OPENAI_API_KEY" {
		t.Errorf("rollback audit record: %+v", rec)
	}
	out, _ = e.ok("", "log", "--op", "rotate")
	if n := strings.Count(out, " rotate "); n != 7 {
		t.Errorf("log --op rotate shows %d records, want 7:\n%s", n, out)
	}

	// A secret without history cannot be rolled back.
	dev := e.key("dev")
	e.ok(dev+"\n", "set")
	_, errs = e.fail(1, "", "rollback")
	mustContain(t, "rollback without history", errs, "okv: error: OPENAI_API_KEY in profile dev has no previous value to roll back to", "okv history")
}
