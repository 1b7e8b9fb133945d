package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *App) newIdentityCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "identity",
		Short: "Print your public recipient (age1…) to give to a teammate",
		Long: `Print your public recipient: the public half of your personal vault's
identity, or of the --identity FILE (OKV_IDENTITY_FILE) when one is given. It
is not secret. A teammate adds it to a profile with 'okv recipient add', after
which you can open that profile with your own identity.`,
		Example: `  okv identity
  OKV_IDENTITY_FILE=ci-key.txt okv identity    # the recipient of a CI identity`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.myRecipient()
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, r)
			if a.Terminal.IsTerminal(a.Stdout) {
				fmt.Fprintln(a.Stderr, "okv: give it to a teammate, who runs 'okv recipient add -p PROFILE "+r+"'")
			}
			return nil
		},
	}
}
