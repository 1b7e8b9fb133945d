package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

const defaultSecret = "OPENAI_API_KEY"

func (a *App) newSetCmd() *cobra.Command {
	var verify bool
	c := &cobra.Command{
		Use:   "set [NAME]",
		Short: "Store a secret (prompted with echo off, or read from stdin)",
		Long: `Store a secret in the profile. NAME defaults to OPENAI_API_KEY.

The value is read from the terminal with echo off, or from stdin when stdin is
not a terminal (one trailing newline is removed). It is never taken from the
command line, where shell history and ps would keep it. Replacing a value keeps
the old one in the secret's history.`,
		Example: `  okv set
  echo "$KEY" | okv set -p prod
  okv set ANTHROPIC_API_KEY < key.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{msg: "okv set takes a name, not a value: a value on the command line ends up in shell history and ps",
					hints: []string{"run 'okv set NAME' to be prompted, or pipe the value: 'pbpaste | okv set NAME'"}}
			}
			return nil
		},
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSet(secretArg(args), verify)
		},
	}
	c.Flags().BoolVar(&verify, "verify", false, "check the key upstream (GET /v1/models) before storing it")
	return c
}

func (a *App) runSet(name string, verify bool) error {
	if err := vault.ValidateSecretName(name); err != nil {
		return err
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	value, err := a.readValue(fmt.Sprintf("Value for %s (profile %s): ", name, profile))
	if err != nil {
		return err
	}
	defer wipe(value)
	if err := vault.ValidateValue(value); err != nil {
		return err
	}
	if verify {
		if err := a.verifyNew(v, profile, name, value); err != nil {
			return err
		}
	}
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	var replaced bool
	err = v.Update(profile, ids, func(d *vault.Document) (err error) {
		replaced, err = d.SetSecret(name, value, a.Now())
		return err
	})
	if err != nil {
		return err
	}
	a.audit(v, "set", profile, []string{name}, "")
	verb := "stored"
	if replaced {
		verb = "replaced"
	}
	lines := ""
	if n := bytes.Count(value, []byte("\n")) + 1; n > 1 {
		lines = fmt.Sprintf(" (%d lines)", n)
	}
	fmt.Fprintf(a.Stderr, "okv: %s %s in %s%s\n", verb, name, a.profileLabel(v, profile), lines)
	return nil
}

// readValue reads a secret from the terminal (echo off) when stdin is one,
// else from stdin, trimming one trailing newline.
func (a *App) readValue(prompt string) ([]byte, error) {
	if a.Terminal.IsTerminal(a.Stdin) {
		return a.readHiddenValue(prompt)
	}
	b, err := io.ReadAll(io.LimitReader(a.Stdin, vault.MaxValueSize+3))
	if err != nil {
		return nil, err
	}
	return vault.TrimValue(b), nil
}

func (a *App) newGetCmd() *cobra.Command {
	var reveal bool
	c := &cobra.Command{
		Use:   "get NAME",
		Short: "Print a secret's value to a pipe (to a terminal only with --reveal)",
		Example: `  okv get OPENAI_API_KEY | pbcopy
  okv get OPENAI_API_KEY --reveal`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runGet(args[0], reveal)
		},
	}
	c.Flags().BoolVar(&reveal, "reveal", false, "print the value even when stdout is a terminal")
	return c
}

func (a *App) runGet(name string, reveal bool) error {
	if err := vault.ValidateSecretName(name); err != nil {
		return err
	}
	if !reveal && a.Terminal.IsTerminal(a.Stdout) {
		return withHints(errors.New("refusing to print a secret to the terminal"),
			"pipe it ('okv get "+name+" | pbcopy'), or pass --reveal to show it",
			"to use it in a command, prefer 'okv run -- CMD'")
	}
	o, err := a.openSecret(name, "okv get "+name)
	if err != nil {
		return err
	}
	a.audit(o.v, "get", o.profile, []string{name}, "")
	_, err = io.WriteString(a.Stdout, o.s.Value+"\n")
	return err
}

func (a *App) newLsCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "ls",
		Short: "List secrets: names, redacted values, age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runLs(all)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "list every profile")
	return c
}

func (a *App) runLs(all bool) error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	var profiles []string
	if all {
		if profiles, err = v.ProfileNames(); err != nil {
			return err
		}
	} else {
		p, err := a.profile(v)
		if err != nil {
			return err
		}
		profiles = []string{p}
	}
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tNAME\tVALUE\tAGE")
	for _, p := range profiles {
		doc, err := v.Load(p, ids)
		if err != nil {
			return err
		}
		for _, n := range doc.Names() {
			s := doc.Secrets[n]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p, n, vault.Redact(s.Value), humanAge(a.Now().Sub(s.RotatedAt)))
		}
	}
	return tw.Flush()
}

// humanAge renders a key's age the way people say it.
func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func (a *App) newRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a secret from a profile (asks first; 'okv rollback' restores it)",
		Long: `Remove NAME from the profile. On a terminal okv asks first; without one it
refuses unless -y/--yes is given. The removed value is kept in the encrypted
profile, with its history, so 'okv rollback NAME' restores it (and 'okv set
NAME' puts the new value in front of it).`,
		Example: `  okv rm ANTHROPIC_API_KEY -p dev
  okv rm OLD_KEY --yes          # in a script`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			o, err := a.openSecret(name, "")
			if err != nil {
				return err
			}
			v, profile := o.v, o.profile
			if err := a.confirmRemoval(fmt.Sprintf("remove %s from profile %s", name, profile), ""); err != nil {
				return err
			}
			if err := v.Update(profile, o.ids, func(d *vault.Document) error { return d.RemoveSecret(name, a.Now()) }); err != nil {
				return err
			}
			a.audit(v, "rm", profile, []string{name}, "")
			fmt.Fprintf(a.Stderr, "okv: removed %s from %s; 'okv rollback %s -p %s' restores it\n", name, a.profileLabel(v, profile), name, profile)
			return nil
		},
	}
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// secretArg is the optional NAME argument: OPENAI_API_KEY when absent.
func secretArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return defaultSecret
}
