package cmd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/okvault/okv/vault"
)

// changingTerminal answers "y" to the confirmation, after doing what a live
// shell does while the user reads the list: appending to a history file.
// It stands for a real terminal, which the cmd tests cannot open (the
// end-to-end scripts drive a real one).
type changingTerminal struct{ change func() }

func (changingTerminal) IsTerminal(any) bool { return false }
func (t changingTerminal) Open() (io.ReadWriteCloser, error) {
	return &answer{r: strings.NewReader("y\n"), change: t.change}, nil
}

type answer struct {
	r      io.Reader
	change func()
}

func (a *answer) Read(p []byte) (int, error) { return a.r.Read(p) }
func (a *answer) Write(p []byte) (int, error) {
	if a.change != nil {
		a.change()
		a.change = nil
	}
	return len(p), nil
}
func (a *answer) Close() error { return nil }

func TestAdoptLeavesAChangedFileAlone(t *testing.T) {
	e := newTestEnv(t)
	home := e.env["HOME"]
	key := "sk-proj-" + strings.Repeat("Cg7h", 10) + "T3Blbk" + "FJ" + strings.Repeat("Cg7h", 10)
	e.values = append(e.values, key)
	hist := filepath.Join(home, ".bash_history")
	rc := filepath.Join(home, ".bashrc")
	os.WriteFile(hist, []byte("ls\nexport OPENAI_API_KEY="+key+"\n"), 0o600)
	os.WriteFile(rc, []byte("export OPENAI_API_KEY="+key+"\n"), 0o644)
	changed := "ls\nexport OPENAI_API_KEY=" + key + "\nmake\n"

	var out, errb bytes.Buffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return e.env[k] }, Environ: func() []string { return nil },
		Getwd: func() (string, error) { return e.dir, nil }, Now: e.clock, Keychain: e.kc,
		Terminal: changingTerminal{change: func() { os.WriteFile(hist, []byte(changed), 0o600) }}}
	code := a.Run([]string{"adopt"})
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), key) {
		t.Fatal("okv adopt printed the key")
	}
	if !strings.Contains(errb.String(), "okv: ~/.bash_history changed since it was searched: left alone") {
		t.Fatalf("no message about the changed file:\n%s", errb.String())
	}
	if b, _ := os.ReadFile(hist); string(b) != changed {
		t.Fatal("the changed history was rewritten")
	}
	if b, _ := os.ReadFile(rc); strings.Contains(string(b), key) {
		t.Fatal("the unchanged .bashrc was not rewritten")
	}
	v, err := vault.Open(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := (&vault.Unlocker{Keychain: e.kc}).Identities(v)
	doc, err := v.Load("dev", ids)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := doc.Secret("OPENAI_API_KEY"); err != nil || s.Value != key {
		t.Fatalf("key not imported: %v", err)
	}
}
