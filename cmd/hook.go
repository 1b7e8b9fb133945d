package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// The hook block okv owns inside .git/hooks/pre-commit. Everything outside
// the markers belongs to the user or another tool and is left alone.
const (
	hookBegin = "# >>> okv scan (okv hook install) >>>"
	hookEnd   = "# <<< okv scan <<<"
)

func hookBlock(okvPath string) string {
	return hookBegin + "\n" +
		"# Blocks a commit that adds an OpenAI key or a value from your okv vaults.\n" +
		"# It runs first, so that no exit or exec further down can skip it.\n" +
		"# Remove with: okv hook uninstall\n" +
		fmt.Sprintf("%s scan --staged --quiet || exit $?\n", shellQuoteArg(okvPath)) +
		hookEnd + "\n"
}

func shellQuoteArg(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (a *App) newHookCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "hook install|uninstall",
		Short: "Install or remove the git pre-commit hook that runs okv scan --staged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &usageError{msg: "okv hook needs a subcommand: install or uninstall"}
		},
	}
	c.AddCommand(&cobra.Command{
		Use:   "install",
		Short: "Add okv scan --staged to this repository's pre-commit hook",
		Long: `Add a block running 'okv scan --staged' to the repository's pre-commit hook
(core.hooksPath is honoured). An existing shell hook is kept: okv's block goes
right after its #! line, so it runs first, whatever the rest does (an exit 0,
an exec, a failing command); a block left lower down by an older okv is moved
to the top. A hook in another language, or a symbolic link, is left alone and
okv refuses, with a hint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.hookInstall() },
	}, &cobra.Command{
		Use:   "uninstall",
		Short: "Remove okv's block from the pre-commit hook",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return a.hookUninstall() },
	})
	return c
}

// hookPath asks git where this repository's pre-commit hook lives.
func hookPath() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--git-path", "hooks/pre-commit").Output()
	if err != nil {
		return "", withHints(errors.New("not inside a git repository"), "run okv hook install from a git work tree")
	}
	p := strings.TrimSpace(string(out))
	return filepath.Abs(p)
}

func (a *App) hookInstall() error {
	path, err := hookPath()
	if err != nil {
		return err
	}
	exe := "okv"
	if _, err := exec.LookPath("okv"); err != nil {
		if e, err := os.Executable(); err == nil {
			exe = e
		}
	}
	block := hookBlock(exe)
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return withHints(fmt.Errorf("%s is a symbolic link; okv will not edit it", path),
			"call 'okv scan --staged' first thing in the hook it points to, or from your hook manager (pre-commit, husky, lefthook)")
	}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && len(bytes.TrimSpace(old)) == 0):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeHook(path, []byte("#!/bin/sh\n"+block)); err != nil {
			return err
		}
		fmt.Fprintf(a.Stderr, "okv: installed the pre-commit hook %s\n", path)
		return nil
	case err != nil:
		return err
	}
	first, rest, _ := bytes.Cut(old, []byte("\n"))
	if !isShellShebang(string(first)) {
		return withHints(fmt.Errorf("%s is not a shell script; okv will not edit it", path),
			"call 'okv scan --staged' from it yourself, first thing, or from your hook manager (pre-commit, husky, lefthook)")
	}
	had := bytes.Contains(old, []byte(hookBegin))
	if had {
		rest = replaceHookBlock(rest, "")
	}
	updated := append(append(append([]byte{}, first...), '\n'), block...)
	updated = append(updated, bytes.TrimLeft(rest, "\n")...)
	wasExec := fi.Mode()&0o111 != 0
	if !bytes.Equal(updated, old) || !wasExec {
		if err := writeHook(path, updated); err != nil {
			return err
		}
	}
	switch {
	case !had:
		fmt.Fprintf(a.Stderr, "okv: added okv scan to the top of the existing pre-commit hook %s, so it runs first\n", path)
	case !hookBlockFirst(old):
		fmt.Fprintf(a.Stderr, "okv: moved okv scan to the top of the pre-commit hook %s, where nothing before it can skip it\n", path)
	default:
		fmt.Fprintf(a.Stderr, "okv: the pre-commit hook already runs okv scan first (%s)\n", path)
	}
	if !wasExec {
		fmt.Fprintln(a.Stderr, "okv: note: the hook was not executable, so git did not run it; it is now, and its other commands run too")
	}
	return nil
}

// hookBlockFirst: okv's block starts right after the #! line.
func hookBlockFirst(hook []byte) bool {
	_, rest, _ := bytes.Cut(hook, []byte("\n"))
	return bytes.HasPrefix(rest, []byte(hookBegin+"\n"))
}

func (a *App) hookUninstall() error {
	path, err := hookPath()
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !bytes.Contains(old, []byte(hookBegin))) {
		fmt.Fprintln(a.Stderr, "okv: the pre-commit hook has no okv block; nothing to remove")
		return nil
	}
	if err != nil {
		return err
	}
	rest := replaceHookBlock(old, "")
	if strings.TrimSpace(string(rest)) == "#!/bin/sh" || strings.TrimSpace(string(rest)) == "" {
		if err := os.Remove(path); err != nil {
			return err
		}
		fmt.Fprintf(a.Stderr, "okv: removed the pre-commit hook %s\n", path)
		return nil
	}
	if err := writeHook(path, bytes.TrimRight(rest, "\n")); err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: removed okv's block from %s; the rest is unchanged\n", path)
	return nil
}

// replaceHookBlock swaps okv's block (markers included) for block.
func replaceHookBlock(hook []byte, block string) []byte {
	s := string(hook)
	i := strings.Index(s, hookBegin)
	j := strings.Index(s, hookEnd)
	if i < 0 || j < i {
		return hook
	}
	j += len(hookEnd)
	if j < len(s) && s[j] == '\n' {
		j++
	}
	out := s[:i] + block + s[j:]
	if block == "" {
		out = strings.TrimRight(s[:i], "\n") + "\n" + s[j:]
	}
	return []byte(out)
}

func isShellShebang(line string) bool {
	for _, sh := range []string{"/sh", "/bash", "/zsh", "/dash", "env sh", "env bash", "env zsh"} {
		if strings.HasPrefix(line, "#!") && strings.Contains(line, sh) {
			return true
		}
	}
	return false
}

func writeHook(path string, data []byte) error {
	if !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	tmp := path + ".okv-tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
