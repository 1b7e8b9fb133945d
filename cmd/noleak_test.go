package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSecretInAnyMessage drives okv through its error paths with a vault
// holding known values and fails if any stdout/stderr line (testEnv.run
// checks every call), the audit log or the usage ledger contains one of
// them, or an 8-character piece of one.
func TestNoSecretInAnyMessage(t *testing.T) {
	e := newTestEnv(t)
	key := e.key("Leak")
	db := "correct-horse-battery-staple-42"
	e.values = append(e.values, db)
	e.ok(key+"\n", "set")
	e.ok(db, "set", "DB_PASSWORD")
	e.ok("", "profile", "create", "prod", "--protect")
	e.ok(key, "set", "-p", "prod")

	paths := [][]string{
		{"set", key},                            // a value where the name goes
		{"set", "OPENAI_API_KEY", key},          // a value on argv
		{"set", "-" + key[3:]},                  // a pasted key as a flag
		{"run", "-" + key[3:], "--", "true"},    // unknown shorthand quoting the argument
		{"run", "--only", key, "--", "true"},    // as a name in --only
		{"run", "--env", "X=" + key, "--", "x"}, // as a name in --env
		{"run", "--env", key, "--", "x"},
		{"run", "--", "no-such-command-" + key[:12]},
		{"get", "NOPE"},
		{"get", "-p", "prod", "OPENAI_API_KEY"}, // protected, no terminal
		{"policy", "set", "upstream=" + key},
		{"policy", "set", "models" + key},
		{"rotate"}, // same value from stdin below
		{"rm", key},
		{"profile", "create", key},
		{"use", key},
		{"ls", "-p", key},
		{"export", "--format", key},
	}
	for _, args := range paths {
		stdin := ""
		if args[0] == "rotate" {
			stdin = key
		}
		_, _, code := e.run(stdin, args...)
		if code == 0 {
			t.Errorf("okv %s: succeeded, want an error", strings.Join(args, " "))
		}
	}

	// A value the user gets wrong: too long, NUL, empty.
	e.fail(2, strings.Repeat(key, 2000), "set", "BIG")
	e.fail(2, key[:10]+"\x00"+key[10:], "set", "NUL")

	// A tampered profile and a swapped one.
	prof := filepath.Join(e.dir, "profiles", "dev.age")
	orig, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(orig), "\n")
	lines[3] = strings.Repeat("A", len(lines[3]))
	os.WriteFile(prof, []byte(strings.Join(lines, "\n")), 0o600)
	e.fail(1, "", "ls")
	prodFile, _ := os.ReadFile(filepath.Join(e.dir, "profiles", "prod.age"))
	os.WriteFile(prof, prodFile, 0o600)
	e.fail(1, "", "ls")
	os.WriteFile(prof, orig, 0o600)

	// A broken .env names the line, not the value.
	env := filepath.Join(t.TempDir(), "broken.env")
	os.WriteFile(env, []byte("A=1\nB=\""+key+"\n"), 0o600)
	e.fail(2, "", "import", env)

	ledgers, _ := filepath.Glob(filepath.Join(e.dir, "usage*.jsonl"))
	for _, f := range append([]string{"audit.jsonl", "audit.head", "config.toml", "state.json"}, ledgers...) {
		f = filepath.Base(f)
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil {
			continue
		}
		for _, v := range e.values {
			for i := 0; i+8 <= len(v); i += 4 {
				if strings.Contains(string(b), v[i:i+8]) {
					t.Errorf("%s holds a piece of a secret value", f)
					break
				}
			}
		}
	}
}

// Token formats other than OpenAI's pasted where a name or command goes.
func TestNoPastedTokenEchoed(t *testing.T) {
	e := newTestEnv(t)
	for _, tok := range []string{
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"AKIAIOSFODNN7EXAMPLE",
		"xoxb-1234-5678-abcdefghijkl",
		"sk_live_4eC39HqLyjWDarjtT1zdp7dc",
	} {
		e.values = append(e.values, tok)
		e.fail(2, "value\n", "set", tok)
		_, _, code := e.run("", tok)
		if code != 2 {
			t.Errorf("okv %s: exit %d, want 2", tok[:4], code)
		}
	}
	if b, err := os.ReadFile(filepath.Join(e.dir, "audit.jsonl")); err == nil {
		for _, v := range e.values {
			if strings.Contains(string(b), v) {
				t.Errorf("the audit log holds a pasted token")
			}
		}
	}
}
