package cmd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/vault"
)

// testEnv is a vault in a temp folder unlocked through an in-memory
// keychain, with an injected clock, for running okv commands in-process.
type testEnv struct {
	t      *testing.T
	dir    string
	env    map[string]string
	kc     vault.MapKeychain
	now    time.Time
	values []string // secret values that must never show up in output
}

type noTerminal struct{}

func (noTerminal) IsTerminal(any) bool               { return false }
func (noTerminal) Open() (io.ReadWriteCloser, error) { return nil, vault.ErrNoTerminal }

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vault")
	e := &testEnv{
		t:   t,
		dir: dir,
		env: map[string]string{"OKV_HOME": dir, "HOME": t.TempDir()},
		kc:  vault.MapKeychain{},
		now: time.Date(2025, 6, 10, 9, 0, 0, 0, time.Local),
	}
	_, err := vault.Init(dir, vault.InitOptions{Backend: vault.BackendKeychain, Keychain: e.kc, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *testEnv) clock() time.Time { return e.now }

// run runs one okv command line with stdin and returns its output and
// exit code. Output is checked never to hold a secret value, except the
// stdout of 'okv get'.
func (e *testEnv) run(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	a := &App{
		Stdin:    strings.NewReader(stdin),
		Stdout:   &out,
		Stderr:   &errb,
		Getenv:   func(k string) string { return e.env[k] },
		Environ:  func() []string { return nil },
		Getwd:    func() (string, error) { return e.dir, nil },
		Now:      e.clock,
		Keychain: e.kc,
		Terminal: noTerminal{},
	}
	code = a.Run(args)
	for _, v := range e.values {
		if strings.Contains(errb.String(), v) || (args[0] != "get" && strings.Contains(out.String(), v)) {
			e.t.Fatalf("okv %s printed a secret value:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errb.String())
		}
	}
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed.
func (e *testEnv) ok(stdin string, args ...string) (stdout, stderr string) {
	e.t.Helper()
	out, errs, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("okv %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out, errs
}

// fail runs a command that must exit with code.
func (e *testEnv) fail(code int, stdin string, args ...string) (stdout, stderr string) {
	e.t.Helper()
	out, errs, got := e.run(stdin, args...)
	if got != code {
		e.t.Fatalf("okv %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errs)
	}
	return out, errs
}

// key returns a key-shaped test value and remembers it as secret.
func (e *testEnv) key(tag string) string {
	k := "sk-proj-" + tag + strings.Repeat("Zq9x", 8) + tag
	e.values = append(e.values, k)
	return k
}

// load decrypts a profile directly.
func (e *testEnv) load(profile string) *vault.Document {
	e.t.Helper()
	v, err := vault.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	ids, err := (&vault.Unlocker{Keychain: e.kc}).Identities(v)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := v.Load(profile, ids)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *testEnv) value(profile, name string) string {
	e.t.Helper()
	s, ok := e.load(profile).Secrets[name]
	if !ok {
		e.t.Fatalf("profile %s has no %s", profile, name)
	}
	return s.Value
}

func (e *testEnv) updateConfig(fn func(*vault.Config)) {
	e.t.Helper()
	v, err := vault.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := v.UpdateConfig(func(c *vault.Config) error { fn(c); return nil }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) config() *vault.Config {
	e.t.Helper()
	v, err := vault.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Config
}

func (e *testEnv) readFile(name string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

func mustNotContain(t *testing.T, what, s string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(s, b) {
			t.Errorf("%s contains %q:\n%s", what, b, s)
		}
	}
}
