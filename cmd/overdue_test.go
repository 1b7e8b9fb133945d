package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/vault"
)

const day = 24 * time.Hour

// noSuchCommand makes 'okv run' stop at the command lookup (exit 127),
// after the overdue check and before it would replace the test process.
const noSuchCommand = "okv-test-no-such-command-7f3a"

func TestStatusOverdue(t *testing.T) {
	e := newTestEnv(t)
	start := e.now
	e.ok("", "profile", "create", "prod")
	e.now = start.Add(-91 * day)
	e.ok(e.key("prod")+"\n", "set", "-p", "prod")
	e.now = start.Add(-89 * day)
	e.ok(e.key("dev")+"\n", "set", "-p", "dev")
	e.now = start

	out, _ := e.ok("", "status")
	mustContain(t, "status", out, "PROFILE", "LAST USED")
	lines := strings.Split(out, "\n")
	var devLine, prodLine string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "dev "):
			devLine = l
		case strings.HasPrefix(l, "prod "):
			prodLine = l
		}
	}
	mustContain(t, "prod row", prodLine, "OPENAI_API_KEY", "sk-proj-…prod", "91d", "90d", "never", "OVERDUE")
	mustContain(t, "dev row", devLine, "89d", "due in 24h")
	mustNotContain(t, "dev row", devLine, "OVERDUE")

	// doctor reminds about the overdue key without failing.
	doc, _ := e.ok("", "doctor")
	mustContain(t, "doctor", doc, "warn  profile prod: OPENAI_API_KEY is 91d old (max 90d)", "fix: okv rotate OPENAI_API_KEY -p prod")
	mustNotContain(t, "doctor", doc, "profile dev: OPENAI_API_KEY is")

	_, errs := e.fail(1, "", "status", "--check")
	mustContain(t, "status --check", errs, "okv: error: 1 key(s) overdue for rotation", "okv rotate OPENAI_API_KEY -p prod")
	e.ok("", "status", "--check", "-p", "dev")

	// A shorter max_age (set through the policy) makes dev overdue too.
	e.updateConfig(func(c *vault.Config) { c.Profiles["dev"] = &vault.Policy{MaxAge: vault.Days(30)} })
	out, _ = e.fail(1, "", "status", "--check", "-p", "dev")
	mustContain(t, "status", out, "30d", "OVERDUE")

	// Last used comes from the audit log.
	e.now = start.Add(-3 * day)
	e.ok("", "get", "OPENAI_API_KEY", "-p", "prod")
	e.now = start
	out, _ = e.ok("", "status", "-p", "prod")
	mustContain(t, "status", out, "3d ago")
}

func TestRunOverdueWarningOncePerDay(t *testing.T) {
	e := newTestEnv(t)
	start := e.now
	e.ok("", "profile", "create", "prod")
	e.now = start.Add(-97 * day)
	e.ok(e.key("old")+"\n", "set", "-p", "prod")
	e.now = start.Add(-10 * day)
	e.ok(e.key("new")+"\n", "set", "-p", "dev")
	e.now = start

	want := "okv: warning: OPENAI_API_KEY in profile prod is 97 days old (max 90d): rotate it with 'okv rotate OPENAI_API_KEY -p prod'\n"
	_, errs := e.fail(127, "", "run", "-p", "prod", "--", noSuchCommand)
	if !strings.HasPrefix(errs, want) || strings.Count(errs, "warning") != 1 {
		t.Fatalf("first run: stderr\n%s\nwant it to start with\n%s", errs, want)
	}
	fi, err := os.Stat(filepath.Join(e.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state.json mode %04o, want 0600", fi.Mode().Perm())
	}

	// Same day, later: no warning.
	e.now = start.Add(5 * time.Hour)
	_, errs = e.fail(127, "", "run", "-p", "prod", "--", noSuchCommand)
	mustNotContain(t, "same-day run", errs, "warning")

	// A fresh key warns never.
	_, errs = e.fail(127, "", "run", "-p", "dev", "--", noSuchCommand)
	mustNotContain(t, "fresh key run", errs, "warning")

	// The next day it warns again, once.
	e.now = start.Add(day)
	_, errs = e.fail(127, "", "run", "-p", "prod", "--", noSuchCommand)
	mustContain(t, "next-day run", errs, "OPENAI_API_KEY in profile prod is 98 days old (max 90d)")
	_, errs = e.fail(127, "", "run", "-p", "prod", "--", noSuchCommand)
	mustNotContain(t, "second next-day run", errs, "warning")

	// Other fields of state.json survive.
	st := string(e.readFile("state.json"))
	mustContain(t, "state.json", st, `"overdue_warned"`, `"prod": "2025-06-11"`)
}

func TestOverdueBoundary(t *testing.T) {
	now := time.Date(2025, 6, 10, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		age  time.Duration
		want bool
	}{{91 * day, true}, {89 * day, false}, {90*day + time.Second, true}} {
		s := &vault.Secret{RotatedAt: now.Add(-c.age)}
		if got := s.IsOverdue(vault.DefaultMaxAge, now); got != c.want {
			t.Errorf("age %v: overdue %v, want %v", c.age, got, c.want)
		}
	}
}
