package cmd

import (
	"bytes"
	"testing"
)

// TestFastPathSameAsFullTree: 'okv run' and 'okv shell' are parsed by a
// root holding only themselves (start-up speed, issue 21); every
// user-visible answer that does not run a child must be the full tree's.
func TestFastPathSameAsFullTree(t *testing.T) {
	cases := [][]string{
		{"run", "--help"},
		{"run", "-h"},
		{"run"},
		{"run", "--bogus", "--", "true"},
		{"run", "-X"},
		{"run", "--version"},
		{"run", "--only"},
		{"shell", "--help"},
		{"shell", "extra"},
	}
	for _, name := range []string{"run", "shell"} {
		if fastCommands[name] == nil {
			t.Fatalf("%s is not on the fast path", name)
		}
	}
	exec := func(full bool, args []string) (string, string, error) {
		a := &App{Getenv: func(string) string { return "" }, Environ: func() []string { return nil }}
		var out, errb bytes.Buffer
		var root = a.newRootCmdFor(fastCommands[args[0]])
		if full {
			root = a.newRootCmd()
		}
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errb)
		_, err := root.ExecuteC()
		return out.String(), errb.String(), err
	}
	for _, args := range cases {
		fo, fe, ferr := exec(true, args)
		qo, qe, qerr := exec(false, args)
		if fo != qo || fe != qe || (ferr == nil) != (qerr == nil) || (ferr != nil && ferr.Error() != qerr.Error()) {
			t.Errorf("okv %q: full tree %q %q %v, fast path %q %q %v", args, fo, fe, ferr, qo, qe, qerr)
		}
	}
	if fo, _, _ := exec(true, []string{"run", "--help"}); !bytes.Contains([]byte(fo), []byte("--profile")) {
		t.Errorf("run --help lost the global flags: %q", fo)
	}
}
