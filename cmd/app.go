// Package cmd is okv's command line: one file per command, glue only. It
// turns flags into calls on vault and shell, and typed errors into the
// `okv: error:` / `okv: hint:` lines users read.
package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/shell"
	"github.com/okvault/okv/vault"
)

// Version is set at link time: -ldflags "-X github.com/okvault/okv/cmd.Version=v1.2.3".
var Version = "dev"

// App holds what a command needs from the outside world, so tests can
// inject streams, environment, clock and keychain.
type App struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Environ        func() []string
	Getwd          func() (string, error)
	Now            func() time.Time
	Keychain       vault.Keychain
	Terminal       Terminal

	// Global flags.
	profileFlag  string
	identityFlag string
	yes          bool

	idUnlocker *vault.Unlocker
	venv       *vault.Env
	loc        vault.Location // the vault openVault chose, and why

	childSignal syscall.Signal // what killed a supervised child (okv run)
}

// Main runs okv with args (without the program name) on the real process
// and returns the exit code.
func Main(args []string) int {
	if len(args) > 0 && args[0] == shell.PTYMonitorCommand {
		return shell.PTYMonitor(args[1:])
	}
	app := &App{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Getenv:   os.Getenv,
		Environ:  os.Environ,
		Getwd:    os.Getwd,
		Now:      time.Now,
		Keychain: vault.OSKeychain{Timeout: keychainTimeout(os.Getenv)},
		Terminal: osTerminal{},
	}
	code := app.Run(args)
	if app.childSignal != 0 {
		// Die of the signal that killed the child, as sudo does, so that
		// the shell sees it (a loop of okv runs stops on Ctrl-C). Only
		// where that cannot be done: 128+N.
		shell.DieOf(app.childSignal)
	}
	return code
}

// keychainTimeout reads OKV_KEYCHAIN_TIMEOUT (a Go duration), else the
// default.
func keychainTimeout(getenv func(string) string) time.Duration {
	if s := getenv("OKV_KEYCHAIN_TIMEOUT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return vault.DefaultKeychainTimeout
}

// Run executes one command line and returns the exit code.
func (a *App) Run(args []string) int {
	if command, ok := plainRun(args); ok {
		// okv run's start-up (issue 21): building even the one-command
		// tree and running cobra's parse cost about 0.1 ms, for a line
		// with no flag to parse. The command runs as cobra would run it
		// (TestPlainRunAsCobra); the tree is built only for an error's
		// hints.
		err := a.runRun(runOptions{}, command)
		if err == nil {
			return 0
		}
		// By name: the root also holds help, which sorts first.
		run, _, _ := a.newRootCmdFor(fastCommands["run"]).Find([]string{"run"})
		return a.report(usageHints(run, err))
	}
	var only func(*App) *cobra.Command
	if len(args) > 0 {
		only = fastCommands[args[0]]
	}
	root := a.newRootCmdFor(only)
	if only == nil {
		// --version is a flag of the root alone ('okv run --version' is
		// an unknown flag either way): the build info is read only then.
		versionFlag(root)
	}
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	c, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	return a.report(usageHints(c, err))
}

// plainRun reports whether args are 'run', no flag, and a command ('okv
// run -- COMMAND…' or 'okv run COMMAND…'), and the command's words as
// cobra would hand them to okv run: its flags stop at the first word that
// is not one (SetInterspersed(false)), and a leading "--" only ends them.
// Any other line, a flag, help or a missing command among them, is
// cobra's to parse.
func plainRun(args []string) ([]string, bool) {
	if len(args) < 2 || args[0] != "run" {
		return nil, false
	}
	command := args[1:]
	if command[0] == "--" {
		command = command[1:]
	} else if strings.HasPrefix(command[0], "-") {
		return nil, false
	}
	return command, len(command) > 0
}

// usageHints points a usage error at the help of the command that failed
// (c, from cobra's ExecuteC), and turns cobra's plain "unknown command"
// errors into usage errors with suggestions named by their full path.
func usageHints(c *cobra.Command, err error) error {
	if c == nil {
		return err
	}
	var ue *usageError
	if errors.As(err, &ue) && !strings.HasPrefix(ue.msg, "unknown command") {
		if len(ue.hints) == 0 {
			ue.hints = []string{helpHint(c)}
		}
		return err
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "unknown command") {
		return err
	}
	first, _, _ := strings.Cut(msg, "\n")
	ue = &usageError{msg: strings.TrimSpace(first)}
	// cobra suggests only at the root; ask the command that failed.
	var word string
	if i := strings.Index(first, `"`); i >= 0 {
		word, _, _ = strings.Cut(first[i+1:], `"`)
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only at the root
	}
	var alts []string
	for _, s := range c.SuggestionsFor(word) {
		alts = append(alts, "'"+c.CommandPath()+" "+s+"'")
	}
	if len(alts) > 0 {
		ue.hints = []string{"did you mean " + strings.Join(alts, " or ") + "?"}
	}
	ue.hints = append(ue.hints, helpHint(c))
	return ue
}

// helpHint is the hint line that points at c's help.
func helpHint(c *cobra.Command) string { return fmt.Sprintf("see '%s --help'", c.CommandPath()) }
