package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/vault"
)

func TestLogFilters(t *testing.T) {
	e := newTestEnv(t)
	start := e.now
	e.now = start.Add(-3 * day)
	e.ok("", "profile", "create", "prod")
	e.ok(e.key("p")+"\n", "set", "-p", "prod")
	e.now = start.Add(-2 * time.Hour)
	e.ok(e.key("d")+"\n", "set", "-p", "dev")
	e.now = start.Add(-1 * time.Hour)
	e.ok("", "get", "OPENAI_API_KEY", "-p", "prod")
	e.now = start

	out, _ := e.ok("", "log")
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 5 { // header + 4
		t.Fatalf("log shows %d lines, want 5:\n%s", n, out)
	}
	mustContain(t, "log", out, "TIME", "PROFILE", "OP", "profile-create", "set", "get", "OPENAI_API_KEY")

	out, _ = e.ok("", "log", "--since", "24h")
	mustContain(t, "log --since 24h", out, "dev", "get")
	mustNotContain(t, "log --since 24h", out, "profile-create")

	out, _ = e.ok("", "log", "--since", "7d", "-p", "prod", "--op", "set,get", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("filtered --json shows %d lines, want 2:\n%s", len(lines), out)
	}
	for i, want := range []string{"set", "get"} {
		var r vault.AuditRecord
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if r.Op != want || r.Profile != "prod" || r.MAC == "" || r.Key == "" {
			t.Errorf("line %d: %+v, want op %s on prod", i+1, r, want)
		}
	}

	_, errs := e.fail(2, "", "log", "--since", "yesterday")
	mustContain(t, "log --since bad", errs, "okv: error: --since: invalid duration")
	e.fail(2, "", "log", "--verify", "--json")
}

func TestLogVerify(t *testing.T) {
	e := newTestEnv(t)
	e.ok("", "profile", "create", "prod")
	e.ok("", "profile", "create", "stage")
	e.ok(e.key("x")+"\n", "set", "-p", "prod")
	e.ok("", "get", "OPENAI_API_KEY", "-p", "prod")
	out, _ := e.ok("", "log", "--verify")
	mustContain(t, "log --verify", out, "audit log intact: 4 record(s)")

	path := filepath.Join(e.dir, "audit.jsonl")
	orig := e.readFile("audit.jsonl")
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	write := func(ls []string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(strings.Join(ls, "")), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Edited: line 3 now claims another profile.
	edited := append([]string(nil), lines...)
	edited[2] = strings.Replace(edited[2], `"profile":"prod"`, `"profile":"dev"`, 1)
	write(edited)
	out, errs := e.fail(1, "", "log", "--verify")
	mustContain(t, "edited", out, "line 3: the record was edited or forged (its MAC does not match)")
	mustContain(t, "edited", errs, "okv: error: the audit log", "not intact: 1 break(s), first at line 3")

	// Deleted: line 2 removed.
	write(append(append([]string(nil), lines[0]), lines[2:]...))
	out, _ = e.fail(1, "", "log", "--verify")
	mustContain(t, "deleted", out, "line 2: the record does not follow the one before it")

	// Deleted from the start.
	write(lines[1:])
	out, _ = e.fail(1, "", "log", "--verify")
	mustContain(t, "deleted first", out, "line 1: the first record points to an earlier one")

	// Reordered: lines 2 and 3 swapped.
	write([]string{lines[0], lines[2], lines[1], lines[3]})
	out, _ = e.fail(1, "", "log", "--verify")
	mustContain(t, "reordered", out, "line 2: the record does not follow", "line 3: the record does not follow")
	mustNotContain(t, "reordered", out, "line 1")

	// Cut: the last line removed.
	write(lines[:3])
	out, errs = e.fail(1, "", "log", "--verify")
	mustContain(t, "cut", out, "end: 1 record(s) were cut from the end: audit.head counts 4, the log holds 3")
	mustContain(t, "cut", errs, "not intact: 1 break(s), at its end")

	write(lines)
	out, _ = e.ok("", "log", "--verify")
	mustContain(t, "restored", out, "audit log intact: 4 record(s), MAC chain verified, head anchored")
}
