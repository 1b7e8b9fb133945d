package cmd

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// TestPlainRunAsCobra: 'okv run [--] COMMAND…' without a flag skips cobra
// (plainRun, start-up speed, issue 21). For every line plainRun takes, the
// full tree must run okv run with the same command and no option set; a
// line it leaves to cobra that cobra runs so must start its command with
// "-" (such as "-", which pflag takes for a word: cobra parses it).
func TestPlainRunAsCobra(t *testing.T) {
	lines := [][]string{
		{"run", "--", "true"},
		{"run", "true"},
		{"run", "npm", "start"},
		{"run", "npm", "--prefix", "x", "start"},
		{"run", "true", "--", "x"},
		{"run", "--", "--", "x"},
		{"run", "--", "--version"},
		{"run", "--", "-p", "prod"},
		{"run", "", "x"},
		{"run", "help"},
		{"run", "-", "x"},
		{"run", "-p", "prod", "--", "true"},
		{"run", "--only", "K", "--", "true"},
		{"run", "--help"},
		{"run", "--"},
		{"run"},
		{"--profile", "dev", "run", "--", "true"},
	}
	for _, args := range lines {
		a := &App{Getenv: func(string) string { return "" }, Environ: func() []string { return nil }}
		root := a.newRootCmd()
		var ran []string
		var flagSet bool
		for _, c := range root.Commands() {
			if c.Name() == "run" {
				c.RunE = func(c *cobra.Command, command []string) error {
					ran = append([]string{}, command...)
					c.Flags().Visit(func(*pflag.Flag) { flagSet = true })
					c.InheritedFlags().Visit(func(*pflag.Flag) { flagSet = true })
					return nil
				}
			}
		}
		var out, errb bytes.Buffer
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errb)
		_, err := root.ExecuteC()
		cobraPlain := err == nil && ran != nil && len(ran) > 0 && !flagSet
		command, ok := plainRun(args)
		if ok && (!cobraPlain || !reflect.DeepEqual(command, ran)) || !ok && cobraPlain && !strings.HasPrefix(args[1], "-") {
			t.Errorf("okv %q: plainRun %q %v; cobra ran %q (flag set %v, err %v)", args, command, ok, ran, flagSet, err)
		}
	}
}
