package cmd

import (
	"github.com/spf13/cobra"
)

func (a *App) newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print the completion script for your shell. It completes commands, flags,
profile names (without unlocking) and secret names (unlocking silently).

  bash:        source <(okv completion bash)
  zsh:         okv completion zsh > "${fpath[1]}/_okv"
  fish:        okv completion fish > ~/.config/fish/completions/okv.fish
  powershell:  okv completion powershell | Out-String | Invoke-Expression`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.Stdout)
			case "fish":
				return root.GenFishCompletion(a.Stdout, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(a.Stdout)
			}
			return usagef("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}

func (a *App) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print okv's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cmd.OutOrStdout().Write([]byte("okv " + Version + "\n"))
			return err
		},
	}
}
