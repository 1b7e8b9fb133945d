package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age/plugin"

	"github.com/okvault/okv/vault"
)

// runInitProject is 'okv init --project': a project vault in ./.okv/,
// meant to be committed, with the profile dev encrypted to the user.
func (a *App) runInitProject() error {
	cwd, err := a.Getwd()
	if err != nil {
		return err
	}
	dir := filepath.Join(cwd, vault.ProjectDirName)
	if _, err := os.Stat(filepath.Join(dir, "config.toml")); err == nil {
		return withHints(fmt.Errorf("a project vault already exists in %s", dir),
			"share it with 'okv recipient add -p PROFILE RECIPIENT'")
	}
	me, err := a.myRecipient()
	if errors.Is(err, vault.ErrNotInitialized) {
		return withHints(errors.New("a project vault needs your own identity, and you have none yet"),
			"create your personal vault first with 'okv init'",
			"or pass an age identity with --identity FILE or OKV_IDENTITY_FILE")
	}
	if err != nil {
		return err
	}
	pv, err := vault.InitProject(dir, me, a.Now)
	if err != nil {
		return err
	}
	// What you create you trust; without a personal vault (an identity
	// file only) there is nowhere to record it: OKV_TRUST=1 then.
	switch err := a.env().TrustStore().TrustVault(pv); {
	case errors.Is(err, vault.ErrNoTrustStore):
		fmt.Fprintln(a.Stderr, "okv: note: you have no personal vault to record trust in: run okv here with OKV_TRUST=1")
	case err != nil:
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: created a project vault in %s with the profile dev, encrypted to you (%s)\n", dir, me)
	fmt.Fprintln(a.Stderr, "okv: share it with 'okv recipient add -p dev RECIPIENT' (a teammate prints theirs with 'okv identity'), then commit .okv/")
	if a.Getenv("OKV_HOME") != "" {
		fmt.Fprintln(a.Stderr, "okv: note: OKV_HOME is set, so okv keeps using that vault here; unset it to use this project vault")
	}
	return nil
}

// identityFile is --identity, else OKV_IDENTITY_FILE.
func (a *App) identityFile() string {
	if a.identityFlag != "" {
		return a.identityFlag
	}
	return a.Getenv("OKV_IDENTITY_FILE")
}

// myRecipient is the user's public recipient: the identity file's when one
// is given, else the personal vault's. It needs no unlock.
func (a *App) myRecipient() (string, error) {
	if f := a.identityFile(); f != "" {
		return vault.RecipientOfIdentityFile(f)
	}
	dir, err := vault.PersonalDir(a.Getenv)
	if err != nil {
		return "", err
	}
	pv, err := vault.Open(dir)
	if err != nil {
		return "", err
	}
	if pv.Config.IsProject() || pv.Config.Recipient == "" {
		return "", vault.ErrNotInitialized
	}
	return pv.Config.Recipient, nil
}

// vaultLabel says which vault is in use and why, for status and doctor.
func (a *App) vaultLabel(v *vault.Vault) string {
	switch {
	case v.Config.IsProject() && a.loc.Source == "project":
		return "project vault " + v.Dir + " (found from the working folder; unlocked with your own identity)"
	case v.Config.IsProject():
		return "project vault " + v.Dir + " (from OKV_HOME; unlocked with your own identity)"
	case a.loc.Source == "OKV_HOME":
		return "personal vault " + v.Dir + " (from OKV_HOME)"
	}
	return "personal vault " + v.Dir
}

// pluginUI lets age plugins (hardware keys) talk to the user: messages on
// stderr, values and confirmations on the terminal.
func (a *App) pluginUI() *plugin.ClientUI {
	return &plugin.ClientUI{
		DisplayMessage: func(name, msg string) error {
			fmt.Fprintf(a.Stderr, "okv: %s plugin: %s\n", name, msg)
			return nil
		},
		RequestValue: func(name, prompt string, secret bool) (string, error) {
			b, err := a.readHidden(fmt.Sprintf("okv: %s plugin: %s ", name, strings.TrimSpace(prompt)))
			if err != nil {
				fmt.Fprintf(a.Stderr, "okv: %s plugin asked for input, but there is no terminal\n", name)
				return "", err
			}
			return string(b), nil
		},
		Confirm: func(name, prompt, yes, no string) (bool, error) {
			q := fmt.Sprintf("okv: %s plugin: %s (%s)", name, prompt, yes)
			if no != "" {
				q = fmt.Sprintf("okv: %s plugin: %s (yes: %s, no: %s)", name, prompt, yes, no)
			}
			return a.confirm(q)
		},
		WaitTimer: func(name string) {
			fmt.Fprintf(a.Stderr, "okv: waiting for the %s plugin (touch your hardware key?)\n", name)
		},
	}
}

// projectBackendLabel names where the identities that open a project vault
// come from, for doctor.
func (a *App) projectBackendLabel() string {
	if a.identityFile() != "" {
		return "identity file"
	}
	if dir, err := vault.PersonalDir(a.Getenv); err == nil {
		if pv, err := vault.Open(dir); err == nil && !pv.Config.IsProject() {
			return "personal " + pv.Config.Backend
		}
	}
	return "(no identity)"
}
