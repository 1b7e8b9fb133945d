package cmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
			switch args[0] {
			case "bash", "zsh", "fish", "powershell":
			default:
				return usagef("unknown shell %q: use bash, zsh, fish or powershell", args[0])
			}
			b, err := GenerateCompletion(args[0])
			if err != nil {
				return err
			}
			_, err = a.Stdout.Write(b)
			return err
		},
	}
}

// CompletionFiles are the scripts committed under completions/.
var CompletionFiles = []struct{ Name, Shell string }{
	{"okv.bash", "bash"},
	{"okv.zsh", "zsh"},
	{"okv.fish", "fish"},
	{"okv.ps1", "powershell"},
}

// GenerateCompletion returns the completion script for shell.
func GenerateCompletion(shell string) ([]byte, error) {
	var buf bytes.Buffer
	a := &App{Stdout: &buf, Stderr: io.Discard, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	root := a.newRootCmd()
	var err error
	switch shell {
	case "bash":
		err = root.GenBashCompletionV2(&buf, true)
	case "zsh":
		err = root.GenZshCompletion(&buf)
	case "fish":
		err = root.GenFishCompletion(&buf, true)
	case "powershell":
		err = root.GenPowerShellCompletionWithDesc(&buf)
	default:
		err = fmt.Errorf("unknown shell %q", shell)
	}
	return buf.Bytes(), err
}

// WriteCompletions writes every completion script into dir.
func WriteCompletions(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range CompletionFiles {
		b, err := GenerateCompletion(f.Shell)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CommandTree returns okv's command tree, wired to no terminal, file or
// keychain: for generators (man pages) that read it and never run it.
func CommandTree() *cobra.Command {
	a := &App{Stdout: io.Discard, Stderr: io.Discard, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	return a.newRootCmd()
}
