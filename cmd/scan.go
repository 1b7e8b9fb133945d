package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/vault"
)

type scanOptions struct {
	staged, git, noIgnore, quiet, verbose bool
	format                                string
	maxSize                               int64
	vaultValues                           bool
}

func (a *App) newScanCmd() *cobra.Command {
	var o scanOptions
	c := &cobra.Command{
		Use:   "scan [PATH...] [--staged | --git] [--format text|json|sarif]",
		Short: "Find OpenAI keys and your vault's exact values in files or git history",
		Long: `Scan files (default: the current folder), the staged files (--staged) or
the whole history (--git: every commit's added lines, commit messages and
the lines merges add when resolving conflicts) for OpenAI key shapes (sk-,
sk-proj-, sk-svcacct-, sk-admin-) and, above all, the exact values of every
secret in your personal vault and in the project vault of this folder, also
JSON-escaped, base64-encoded, in UTF-16 or split by a line wrap.

Values that are words, numbers, or neither named nor shaped like a secret
(DB_USER=postgres, AWS_REGION=us-east-1) are not searched for: they would
match everywhere. The summary counts them; --verbose/-v lists them.

Inside a git work tree .gitignore is honoured (--no-ignore scans ignored
files too); .git, binary files and files over --max-size are skipped and
counted. --staged reads the staged blobs themselves and skips nothing:
binary files are searched, and files over --max-size are searched for exact
values and key shapes. A finding names the file, line, column, rule and a
redacted match; for a vault value, which vault, profile and key it is. List
reviewed findings' fingerprints in .okvignore to silence them.

Exit status: 0 nothing found, 1 findings, 4 the scan failed or some file
could not be read (2 is a usage error).`,
		Example: `  okv scan
  okv scan --git
  okv scan --staged            # what the pre-commit hook runs
  okv scan --format sarif > okv.sarif`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(o, args)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.staged, "staged", false, "scan the staged files (the git index), as the pre-commit hook does")
	f.BoolVar(&o.git, "git", false, "scan the whole history: added lines, commit messages, merge resolutions")
	f.BoolVar(&o.noIgnore, "no-ignore", false, "also scan files .gitignore excludes")
	f.StringVar(&o.format, "format", "text", "output: text, json or sarif")
	f.Int64Var(&o.maxSize, "max-size", scan.DefaultMaxFileSize, "skip files larger than this many bytes (--staged: search them for exact values only)")
	f.BoolVar(&o.vaultValues, "vault", true, "also look for the vaults' exact values (unlocks them)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no summary line on stderr unless files were skipped")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "list the vault values not searched for, and why")
	c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json", "sarif"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func (a *App) runScan(o scanOptions, paths []string) error {
	if o.staged && o.git {
		return usagef("--staged and --git cannot be combined")
	}
	if (o.staged || o.git) && len(paths) > 1 {
		return usagef("--staged and --git take at most one repository folder")
	}
	switch o.format {
	case "text", "json", "sarif":
	default:
		return usagef("--format %q: use text, json or sarif", o.format)
	}
	opts := scan.Options{Paths: paths, NoIgnore: o.noIgnore, MaxFileSize: o.maxSize}
	var vaults []scanVault
	if o.vaultValues {
		opts.Known, vaults = a.knownValues()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var r scan.Result
	var err error
	switch {
	case o.staged || o.git:
		dir := "."
		if len(paths) == 1 {
			dir = paths[0]
		}
		opts.Paths = nil
		if o.staged {
			r, err = scan.ScanStaged(ctx, dir, opts)
		} else {
			r, err = scan.ScanHistory(ctx, dir, opts)
		}
	default:
		r, err = scan.Scan(ctx, opts)
	}
	if err != nil {
		return &hintError{err: fmt.Errorf("scan failed: %w", err), code: scan.ExitFailed}
	}
	return a.writeScan(o, r, vaults)
}

// writeScan writes the result in o.format, then the tail on stderr.
func (a *App) writeScan(o scanOptions, r scan.Result, vaults []scanVault) error {
	format := o.format
	var err error
	switch format {
	case "json":
		err = scan.WriteJSON(a.Stdout, r)
	case "sarif":
		err = scan.WriteSARIF(a.Stdout, r)
	default:
		err = scan.WriteText(a.Stdout, r)
	}
	if err != nil {
		return err
	}
	return a.scanTail(o, r, vaults)
}

// scanTail prints the summary, per-file read errors and, for each vault
// key found, what to do now; then sets the exit status. --quiet hides the
// summary, never a skipped file.
func (a *App) scanTail(o scanOptions, r scan.Result, vaults []scanVault) error {
	for _, fe := range r.Errors {
		fmt.Fprintf(a.Stderr, "okv: warning: %s: %s\n", fe.File, fe.Error)
	}
	seen := map[string]bool{}
	var found []string
	for _, f := range r.Findings {
		if f.Name == "" {
			continue
		}
		k := f.Vault + "\x00" + f.Profile + "\x00" + f.Name
		if !seen[k] {
			seen[k] = true
			found = append(found, fmt.Sprintf("this is your %s %s %s: rotate it now: %s", f.Vault, f.Profile, f.Name, rotateCommand(vaults, f)))
		}
	}
	sort.Strings(found)
	s := r.Summary
	if !o.quiet || s.SkippedBinary+s.SkippedLarge > 0 {
		fmt.Fprint(a.Stderr, "okv: ")
		scan.WriteSummary(a.Stderr, r)
	}
	if s.SkippedBinary+s.SkippedLarge > 0 {
		fmt.Fprintf(a.Stderr, "okv: warning: %d binary file(s) and %d file(s) over --max-size were not searched; --staged searches every staged file\n", s.SkippedBinary, s.SkippedLarge)
	}
	if n := len(r.NotSearched); n > 0 && (!o.quiet || o.verbose) {
		if o.verbose {
			for _, ns := range r.NotSearched {
				fmt.Fprintf(a.Stderr, "okv: note: %s %s %s not searched for: %s\n", ns.Vault, ns.Profile, ns.Name, ns.Reason)
			}
		} else {
			fmt.Fprintf(a.Stderr, "okv: note: %d vault value(s) not searched for (too short, words, or not secret-like); --verbose/-v lists them\n", n)
		}
	}
	if len(r.Findings) > 0 && o.staged {
		fmt.Fprintf(a.Stderr, "okv: error: the staged changes add %d secret(s): a commit would publish them\n", len(r.Findings))
		fmt.Fprintln(a.Stderr, "okv: hint: take them out of the staged files (edit, then git add; or git rm --cached FILE) and commit again")
	}
	for _, h := range found {
		fmt.Fprintf(a.Stderr, "okv: hint: %s\n", h)
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(a.Stderr, "okv: hint: after review, silence a finding by adding its fingerprint to .okvignore")
	}
	if code := scan.ExitCode(r, nil); code != 0 {
		return &silentError{code: code}
	}
	return nil
}

// scanVault is a vault whose values a scan looks for.
type scanVault struct {
	label   string // "personal" or "project"
	dir     string
	current bool // the vault okv commands use here
}

// rotateCommand is the command that rotates the key of finding f.
func rotateCommand(vaults []scanVault, f scan.Finding) string {
	cmd := fmt.Sprintf("okv rotate %s -p %s", f.Name, f.Profile)
	for _, v := range vaults {
		if v.label == f.Vault && !v.current {
			if v.label == "project" {
				return "OKV_HOME= " + cmd + " (in " + shellQuoteArg(filepath.Dir(v.dir)) + ")"
			}
			return "OKV_HOME=" + shellQuoteArg(v.dir) + " " + cmd
		}
	}
	return cmd
}

// knownValues is every secret of every profile of the vaults a scan here
// searches: the one okv uses here, the personal vault, and the project
// vault of the working folder (even when OKV_HOME points elsewhere). Each
// is unlocked quietly when it can be; one that cannot is named, and okv
// scans without its values.
func (a *App) knownValues() ([]scan.Known, []scanVault) {
	cwd, _ := a.Getwd()
	var dirs []string
	current := ""
	loc, err := vault.Locate(a.Getenv, cwd)
	if err != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: not searching for that vault's values: %s\n", scrubKeys(err.Error()))
	} else {
		current = loc.Dir
		dirs = append(dirs, loc.Dir)
	}
	if d, err := vault.PersonalDir(a.Getenv); err == nil {
		dirs = append(dirs, d)
	}
	if err == nil {
		if d := vault.FindProjectDir(cwd); d != "" {
			dirs = append(dirs, d)
		}
	}
	var known []scan.Known
	var vaults []scanVault
	seen := map[string]bool{}
	for _, dir := range dirs {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if seen[dir] {
			continue
		}
		seen[dir] = true
		v, err := vault.Open(dir)
		if errors.Is(err, vault.ErrNotInitialized) {
			continue
		}
		label := "personal"
		if err == nil && v.Config.IsProject() {
			label = "project"
		}
		if err != nil {
			msg, _, _ := a.explain(err)
			fmt.Fprintf(a.Stderr, "okv: warning: not searching for the values of the vault %s: %s\n", dir, msg)
			continue
		}
		v.Now = a.Now
		v.PluginUI = a.pluginUI()
		ids, err := a.unlock(v)
		if err != nil {
			msg, _, _ := a.explain(err)
			fmt.Fprintf(a.Stderr, "okv: warning: looking for key shapes only, not your %s vault's values: %s\n", label, msg)
			continue
		}
		vaults = append(vaults, scanVault{label: label, dir: dir, current: sameDir(dir, current)})
		names, _ := v.ProfileNames()
		for _, p := range names {
			doc, err := v.Load(p, ids)
			if err != nil {
				fmt.Fprintf(a.Stderr, "okv: warning: %s profile %s not searched for: cannot decrypt it\n", label, p)
				continue
			}
			for _, n := range doc.Names() {
				known = append(known, scan.Known{Vault: label, Profile: p, Name: n, Value: doc.Secrets[n].Value})
			}
		}
	}
	return known, vaults
}

func sameDir(a, b string) bool {
	if b == "" {
		return false
	}
	if abs, err := filepath.Abs(b); err == nil {
		b = abs
	}
	return a == b
}
