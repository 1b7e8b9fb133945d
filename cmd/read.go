package cmd

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newReadCmd() *cobra.Command {
	var reveal bool
	c := &cobra.Command{
		Use:   "read okv://[PROFILE/]NAME",
		Short: "Print the secret a reference names, to a pipe (to a terminal only with --reveal)",
		Long: `Print the value of the secret an okv:// reference names: okv://PROFILE/NAME,
or okv://NAME for the profile okv resolves (-p, OKV_PROFILE, .okv-profile,
the default). The rules are okv get's: a pipe only unless --reveal, and a
protected profile asks first.`,
		Example: `  okv read okv://prod/OPENAI_API_KEY | pbcopy
  okv read okv://OPENAI_API_KEY --reveal`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRead(args[0], reveal)
		},
	}
	c.Flags().BoolVar(&reveal, "reveal", false, "print the value even when stdout is a terminal")
	return c
}

func (a *App) runRead(text string, reveal bool) error {
	ref, err := vault.ParseRef(text)
	if err != nil {
		return usagef("%v", err)
	}
	if !reveal && a.Terminal.IsTerminal(a.Stdout) {
		return withHints(errors.New("refusing to print a secret to the terminal"),
			"pipe it ('okv read "+ref.String()+" | pbcopy'), or pass --reveal to show it",
			"to use it in a command, prefer 'okv run --env-file FILE -- CMD'")
	}
	r, err := a.resolveRefs([]refUse{{ref: ref}}, "okv read "+ref.String())
	if err != nil {
		return err
	}
	r.audit(a, "read", "")
	for _, v := range r.values {
		_, err = io.WriteString(a.Stdout, v+"\n")
	}
	return err
}
