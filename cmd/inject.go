package cmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newInjectCmd() *cobra.Command {
	var in, out string
	var force bool
	c := &cobra.Command{
		Use:   "inject -i TEMPLATE -o FILE",
		Short: "Write a file from a template, with each {{ okv://PROFILE/NAME }} replaced by its secret",
		Long: `Read TEMPLATE, replace each {{ okv://PROFILE/NAME }} (or {{ okv://NAME }} for
the resolved profile) by the secret's value, and write FILE: 0600, atomically,
and only when every reference resolves (a missing one is an error naming the
template's file and line, and nothing is written). Other {{ ... }} are left as
they are.

The output holds the secrets in plaintext. okv refuses to write it where git
would track it: over a file git tracks, or in a work tree where git does not
ignore it (pass --force to write it anyway). '-o -' writes to a pipe, never
to a terminal. To keep the file only while a command runs, use
'okv run --template TEMPLATE:FILE -- CMD'.`,
		Example: `  okv inject -i config.tpl -o config.yml
  okv inject -i config.tpl -o - | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" || out == "" {
				return &usageError{msg: "okv inject needs a template and an output", hints: []string{"okv inject -i/--in TEMPLATE -o/--out FILE (or -o - for a pipe)"}}
			}
			return a.runInject(in, out, force)
		},
	}
	c.Flags().StringVarP(&in, "in", "i", "", "the template to read")
	c.Flags().StringVarP(&out, "out", "o", "", "the file to write, or - for stdout (a pipe only)")
	c.Flags().BoolVar(&force, "force", false, "write the output even where git would track it")
	return c
}

func (a *App) runInject(in, out string, force bool) error {
	if out == "-" && a.Terminal.IsTerminal(a.Stdout) {
		return withHints(errors.New("refusing to print secrets to the terminal"),
			"pipe it ('okv inject -i "+in+" -o - | CMD'), or write a file with -o/--out FILE")
	}
	t, err := a.readTemplate(in)
	if err != nil {
		return err
	}
	if out != "-" {
		if err := a.checkPlaintextOutput(out, force, true); err != nil {
			return err
		}
	}
	r, err := a.resolveRefs(t.uses(), "okv inject -i "+in)
	if err != nil {
		return err
	}
	data := t.fill(r)
	r.audit(a, "inject", "")
	if out == "-" {
		_, err = a.Stdout.Write(data)
		return err
	}
	if err := vault.WriteFileAtomic(a.abs(out), data); err != nil {
		return fmt.Errorf("could not write %s: %w", out, err)
	}
	fmt.Fprintf(a.Stderr, "okv: warning: %s holds secrets in plaintext: delete it when done, or use 'okv run --template %s:%s -- CMD' to keep it only while CMD runs\n", out, in, out)
	return nil
}

// template is a parsed template file.
type template struct {
	path string
	data []byte
	refs []vault.TemplateRef
}

func (a *App) readTemplate(path string) (*template, error) {
	data, err := os.ReadFile(a.abs(path))
	if err != nil {
		return nil, fmt.Errorf("could not read the template: %w", err)
	}
	refs, err := vault.TemplateRefs(data)
	var te *vault.TemplateError
	if errors.As(err, &te) {
		return nil, usagef("%s:%d: %s", path, te.Line, te.Msg)
	}
	return &template{path: path, data: data, refs: refs}, err
}

func (t *template) uses() []refUse {
	u := make([]refUse, len(t.refs))
	for i, r := range t.refs {
		u[i] = refUse{ref: r.Ref, where: fmt.Sprintf("%s:%d", t.path, r.Line)}
	}
	return u
}

func (t *template) fill(r *resolvedRefs) []byte { return vault.FillTemplate(t.data, t.refs, r.value) }

// abs resolves path against the command's working folder.
func (a *App) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	cwd, err := a.Getwd()
	if err != nil {
		return path
	}
	return filepath.Join(cwd, path)
}

// checkPlaintextOutput refuses to write secrets where git would pick them
// up: over a tracked file, or a file git does not ignore inside a work
// tree; force skips that check. A folder or other non-regular file is
// never replaced; mayExist false also refuses an existing file (okv run
// --template removes its output afterwards and must not remove yours).
func (a *App) checkPlaintextOutput(out string, force, mayExist bool) error {
	p := a.abs(out)
	fi, err := os.Lstat(p)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("refusing to write %s: it exists and is not a regular file", out)
	case err == nil && !mayExist:
		return withHints(fmt.Errorf("refusing to write %s: the file exists, and okv run removes its template output when the command exits", out),
			"remove it or choose another output path")
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	}
	if force {
		return nil
	}
	dir, base := filepath.Dir(p), filepath.Base(p)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("cannot write %s: %w", out, err)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		if top := findGitDir(dir); top != "" {
			return withHints(fmt.Errorf("refusing to write secrets to %s: it is inside the git work tree %s, and git is not installed to check that it is ignored", out, top),
				"write it outside the repository, or pass --force")
		}
		return nil
	}
	run := func(args ...string) (string, error) {
		c := exec.Command(git, append([]string{"-C", dir}, args...)...)
		c.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		b, err := c.Output()
		return strings.TrimSpace(string(b)), err
	}
	if inside, err := run("rev-parse", "--is-inside-work-tree"); err != nil || inside != "true" {
		return nil // not in a work tree
	}
	if _, err := run("ls-files", "--error-unmatch", "--", base); err == nil {
		return withHints(fmt.Errorf("refusing to write secrets over %s: git tracks it, so they would be committed", out),
			"write it to a path your .gitignore covers, or pass --force")
	}
	if _, err := run("check-ignore", "-q", "--", base); err != nil {
		return withHints(fmt.Errorf("refusing to write secrets to %s: git does not ignore it, so they could be committed", out),
			"add it to .gitignore, or pass --force")
	}
	return nil
}

// findGitDir is the work tree holding dir, by its .git entry, or "".
func findGitDir(dir string) string {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
