package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/adopt"
	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/vault"
)

type adoptOptions struct {
	list    bool
	clean   bool
	timeout time.Duration
}

func (a *App) newAdoptCmd() *cobra.Command {
	var o adoptOptions
	c := &cobra.Command{
		Use:   "adopt [FOLDER...]",
		Short: "Find keys left in rc files, shell histories and .env files, move them into okv, leave references",
		Long: `Search the places keys are left: shell rc files (~/.bashrc, ~/.zshrc, fish's
config.fish, ...), shell histories (bash, zsh, fish), ~/.npmrc, ~/.netrc, files
under ~/.config, and .env* files under each FOLDER (default: the home folder;
node_modules, .git, vendored trees and caches are skipped). Keys are
recognised by okv scan's rules. okv lists what it found (file:line, provider,
the key redacted, the name it gets) and, once you confirm (--yes/-y in a
script), imports each key into the profile (-p/--profile) and rewrites each
file atomically: an rc line becomes a comment pointing at okv, a history entry
is removed, a .env value becomes an okv:// reference. ~/.netrc and ~/.config
files are listed and imported but not rewritten: edit them by hand.

A 0600 backup of each rewritten file is kept in the vault folder until
'okv adopt --clean-backups'; each rewrite is in the audit log. A file that
changed since it was searched is left alone. A full key is never printed.`,
		Example: `  okv adopt
  okv adopt ~/code --list
  okv adopt -p personal --yes
  okv adopt --clean-backups`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.clean {
				if len(args) > 0 || o.list {
					return usagef("--clean-backups takes no folders and no --list")
				}
				return a.runCleanBackups()
			}
			return a.runAdopt(o, args)
		},
	}
	c.Flags().BoolVar(&o.list, "list", false, "list what was found, change nothing")
	c.Flags().BoolVar(&o.clean, "clean-backups", false, "remove the backups earlier runs kept")
	c.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "stop searching after this long")
	return c
}

// adoptBackupDir is where rewritten files' backups are kept: the personal
// vault's folder, never the folders searched.
func (a *App) adoptBackupDir() (string, error) {
	d, err := vault.PersonalDir(a.Getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "adopt-backups"), nil
}

func (a *App) runCleanBackups() error {
	dir, err := a.adoptBackupDir()
	if err != nil {
		return err
	}
	n, err := adopt.CleanBackups(dir)
	if err != nil {
		return fmt.Errorf("could not remove the backups in %s: %w", dir, err)
	}
	fmt.Fprintf(a.Stderr, "okv: removed %d backup(s) from %s\n", n, dir)
	return nil
}

// adoptKey is one distinct key value found, and what becomes of it.
type adoptKey struct {
	value  string
	name   string // its name in the profile
	where  []string
	status string // "import", "in okv", "revoked"
	note   string
}

func (a *App) runAdopt(o adoptOptions, folders []string) error {
	home := a.Getenv("HOME")
	if home == "" {
		return withHints(errors.New("cannot find your home folder: HOME is not set"), "set HOME")
	}
	roots := []string{home}
	if len(folders) > 0 {
		roots = nil
		for _, f := range folders {
			roots = append(roots, a.abs(f))
		}
	}
	backups, err := a.adoptBackupDir()
	if err != nil {
		return err
	}
	v, profile, ids, err := a.openProfile("")
	if err != nil {
		return err
	}
	doc, err := v.Load(profile, ids)
	if err != nil {
		return err
	}
	personal, _ := vault.PersonalDir(a.Getenv)
	fmt.Fprintf(a.Stderr, "okv: searching rc files and shell histories in %s, and .env files under %s (at most %s)\n", a.tilde(home), a.tildes(roots), o.timeout)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	// Progress: a line kept up to date on a terminal, else a line every
	// few seconds (a log).
	var lastLine time.Time
	progress := func(dirs, files int, dir string) {
		if time.Since(lastLine) < 5*time.Second {
			return
		}
		lastLine = time.Now()
		fmt.Fprintf(a.Stderr, "okv: still searching: %d folders, %d files so far (%s)\n", dirs, files, a.tilde(dir))
	}
	if a.Terminal.IsTerminal(a.Stderr) {
		progress = func(dirs, files int, dir string) {
			fmt.Fprintf(a.Stderr, "\r\033[Kokv: %d folders, %d files: %s", dirs, files, clipPath(a.tilde(dir), 60))
		}
	}
	res, err := adopt.Find(ctx, adopt.Options{Home: home, Roots: roots, Skip: []string{v.Dir, personal, backups}, Progress: progress})
	if a.Terminal.IsTerminal(a.Stderr) {
		fmt.Fprint(a.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	for _, e := range res.Errors {
		fmt.Fprintf(a.Stderr, "okv: warning: not searched: %v\n", e)
	}
	if res.TimedOut {
		fmt.Fprintf(a.Stderr, "okv: warning: stopped searching after %s: name fewer folders, or pass --timeout to search longer\n", o.timeout)
	}
	searched := fmt.Sprintf("searched %d files in %d folders", res.Searched, res.Dirs)
	if len(res.Files) == 0 {
		fmt.Fprintf(a.Stderr, "okv: no keys found (%s)\n", searched)
		return nil
	}

	keys, byValue := a.planAdopt(res.Files, doc)
	ref := func(f adopt.Finding) string { return vault.Ref{Profile: profile, Name: byValue[f.Value].name}.String() }

	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHERE\tPROVIDER\tKEY\tNAME\tTHEN")
	nFindings := 0
	for _, f := range res.Files {
		for _, fd := range f.Findings {
			nFindings++
			fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\n", a.tilde(f.Path), fd.Line, fd.Provider, scan.Redact(fd.Value), byValue[fd.Value].name, f.Kind.Action())
		}
	}
	tw.Flush()
	var imports []*adoptKey
	for _, k := range keys {
		switch {
		case k.status == "import":
			imports = append(imports, k)
		case k.status == "revoked":
			fmt.Fprintf(a.Stderr, "okv: %s looks already revoked: %s; it is not imported\n", strings.Join(k.where, ", "), k.note)
		default:
			fmt.Fprintf(a.Stderr, "okv: %s: %s\n", strings.Join(k.where, ", "), k.note)
		}
		if len(k.where) > 1 {
			fmt.Fprintf(a.Stderr, "okv: the same key was found %d times (%s): %s once\n", len(k.where), strings.Join(k.where, ", "), map[bool]string{true: "imported", false: "counted"}[k.status == "import"])
		}
	}
	rewrite := 0
	for _, f := range res.Files {
		if f.Rewritable() {
			rewrite++
		}
	}
	fmt.Fprintf(a.Stderr, "okv: found %d key(s) in %d file(s) (%s): %d to import into %s, %d file(s) to rewrite\n",
		nFindings, len(res.Files), searched, len(imports), a.profileLabel(v, profile), rewrite)
	if o.list {
		return nil
	}
	if len(imports) == 0 && rewrite == 0 {
		for _, f := range res.Files {
			fmt.Fprintf(a.Stderr, "okv: %s is not rewritten (okv does not know its format): edit it by hand to remove the key, which is in okv already\n", a.tilde(f.Path))
		}
		return nil
	}
	if !a.yes {
		ok, err := a.confirm(fmt.Sprintf("okv: import %d key(s) into profile %s and rewrite %d file(s), keeping a backup of each?", len(imports), profile, rewrite))
		if errors.Is(err, vault.ErrNoTerminal) {
			return withHints(errors.New("refusing to change files without confirmation: there is no terminal to ask on"),
				"confirm non-interactively with --yes/-y, or look first with --list")
		}
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not confirmed: nothing was imported or rewritten")
		}
	}

	if len(imports) > 0 {
		var names []string
		err = v.Update(profile, ids, func(d *vault.Document) error {
			for _, k := range imports {
				if s, ok := d.Secrets[k.name]; ok && s.Value != k.value {
					return fmt.Errorf("profile %s got a secret %s while okv adopt ran; nothing was imported", profile, k.name)
				}
				if _, err := d.SetSecret(k.name, []byte(k.value), a.Now()); err != nil {
					return err
				}
				names = append(names, k.name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Strings(names)
		a.audit(v, "adopt-import", profile, names, "")
		fmt.Fprintf(a.Stderr, "okv: imported %d key(s) into profile %s: %s\n", len(names), profile, strings.Join(names, ", "))
	}
	left, history := 0, false
	for _, f := range res.Files {
		if !f.Rewritable() {
			fmt.Fprintf(a.Stderr, "okv: %s not rewritten (okv does not know its format): edit it by hand to remove the key, which is in okv now\n", a.tilde(f.Path))
			continue
		}
		backup, err := f.Apply(backups, ref, a.Now())
		var ce *adopt.ChangedError
		if errors.As(err, &ce) {
			left++
			fmt.Fprintf(a.Stderr, "okv: %s changed since it was searched: left alone; run 'okv adopt' again for it\n", a.tilde(f.Path))
			continue
		}
		if err != nil {
			left++
			fmt.Fprintf(a.Stderr, "okv: warning: could not rewrite %s: %v\n", a.tilde(f.Path), err)
			continue
		}
		var names []string
		for _, fd := range f.Findings {
			names = append(names, byValue[fd.Value].name)
		}
		a.audit(v, "adopt-rewrite", profile, dedupe(names), a.tilde(f.Path))
		history = history || f.Kind.IsHistory()
		fmt.Fprintf(a.Stderr, "okv: rewrote %s (%s); backup: %s\n", a.tilde(f.Path), f.Kind.Action(), backup)
	}
	if history {
		fmt.Fprintln(a.Stderr, "okv: note: shells already open still hold their history in memory and may write it back when they exit: close them (or run 'history -c' in bash)")
	}
	fmt.Fprintf(a.Stderr, "okv: backups are kept in %s until you run 'okv adopt --clean-backups'\n", a.tilde(backups))
	if left > 0 {
		return fmt.Errorf("%d file(s) were left alone; the keys in them are in okv", left)
	}
	return nil
}

// planAdopt decides, for each distinct key found, the name it gets and
// whether it is imported: already in the profile (not again), an old value
// of one of its secrets (looks revoked), or replaced later in the same
// history by another key for the same variable (looks revoked).
func (a *App) planAdopt(files []*adopt.File, doc *vault.Document) ([]*adoptKey, map[string]*adoptKey) {
	byValue := map[string]*adoptKey{}
	var keys []*adoptKey
	for _, f := range files {
		for _, fd := range f.Findings {
			k := byValue[fd.Value]
			if k == nil {
				k = &adoptKey{value: fd.Value, name: fd.Name, status: "import"}
				byValue[fd.Value] = k
				keys = append(keys, k)
			}
			k.where = append(k.where, fmt.Sprintf("%s:%d", a.tilde(f.Path), fd.Line))
		}
	}
	// A later entry in a history for the same variable with another key:
	// the earlier key was replaced (rotated).
	replaced := map[string]string{}
	for _, f := range files {
		if !f.Kind.IsHistory() {
			continue
		}
		for i, fd := range f.Findings {
			for _, later := range f.Findings[i+1:] {
				if later.Name == fd.Name && later.Value != fd.Value {
					replaced[fd.Value] = later.Value
					replaced[fd.Value+"\x00where"] = fmt.Sprintf("%s:%d", a.tilde(f.Path), later.Line)
				}
			}
		}
	}
	taken := map[string]bool{}
	for _, k := range keys {
		for _, n := range doc.Names() {
			s := doc.Secrets[n]
			if s.Value == k.value {
				k.status, k.name, k.note = "in okv", n, "already in okv as "+n
			}
			for _, h := range s.History {
				if k.status == "import" && h.Value == k.value {
					k.status, k.name = "revoked", n
					k.note = fmt.Sprintf("it is an old value of %s, rotated out on %s", n, h.RetiredAt.Format("2006-01-02"))
				}
			}
		}
	}
	for _, k := range keys {
		// Still in use outside a history (an rc file, a .env): imported.
		if newer, ok := replaced[k.value]; ok && k.status == "import" && byValue[newer] != nil && onlyInHistory(k, files) {
			k.status = "revoked"
			k.note = "the same variable got another key later, at " + replaced[k.value+"\x00where"]
		}
	}
	for _, k := range keys {
		if k.status != "import" {
			continue
		}
		base, name := k.name, k.name
		for i := 2; taken[name] || doc.Secrets[name] != nil; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		k.name = name
		taken[name] = true
	}
	// A revoked key's references point at the key that replaced it.
	for _, k := range keys {
		if k.status == "revoked" {
			if newer := byValue[replaced[k.value]]; newer != nil {
				k.name = newer.name
			}
		}
	}
	return keys, byValue
}

// onlyInHistory reports whether every place k was found is a history.
func onlyInHistory(k *adoptKey, files []*adopt.File) bool {
	for _, f := range files {
		if f.Kind.IsHistory() {
			continue
		}
		for _, fd := range f.Findings {
			if fd.Value == k.value {
				return false
			}
		}
	}
	return true
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// tilde shows a path under the home folder as ~/….
func (a *App) tilde(p string) string {
	home := a.Getenv("HOME")
	if home != "" && (p == home || strings.HasPrefix(p, home+string(filepath.Separator))) {
		return "~" + p[len(home):]
	}
	return p
}

func (a *App) tildes(ps []string) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = a.tilde(p)
	}
	return strings.Join(out, ", ")
}

func clipPath(p string, n int) string {
	if len(p) <= n {
		return p
	}
	return "…" + p[len(p)-n+1:]
}
