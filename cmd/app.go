// Package cmd is okv's command line: one file per command, glue only. It
// turns flags into calls on vault and shell, and typed errors into the
// `okv: error:` / `okv: hint:` lines users read.
package cmd

import (
	"io"
	"os"
	"strings"
	"time"

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
}

// Main runs okv with args (without the program name) on the real process
// and returns the exit code.
func Main(args []string) int {
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
	return app.Run(args)
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
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	// cobra reports unknown commands as plain errors; they are usage errors.
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") {
		first, rest, _ := strings.Cut(msg, "\n")
		ue := &usageError{msg: strings.TrimSpace(first)}
		var alts []string
		for _, l := range strings.Split(rest, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Did you mean") {
				alts = append(alts, "okv "+l)
			}
		}
		if len(alts) > 0 {
			ue.hints = []string{"did you mean " + strings.Join(alts, ", ") + "?"}
		}
		err = ue
	}
	return a.report(err)
}
