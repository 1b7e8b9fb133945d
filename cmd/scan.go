package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/scan"
)

type scanOptions struct {
	staged, git, noIgnore, quiet bool
	format                       string
	maxSize                      int64
	vaultValues                  bool
}

func (a *App) newScanCmd() *cobra.Command {
	var o scanOptions
	c := &cobra.Command{
		Use:   "scan [PATH...] [--staged | --git] [--format text|json|sarif]",
		Short: "Find OpenAI keys and your vault's exact values in files or git history",
		Long: `Scan files (default: the current folder), the staged changes (--staged) or
every commit's added lines (--git) for OpenAI key shapes (sk-, sk-proj-,
sk-svcacct-, sk-admin-) and, above all, the exact values of every secret in
the vault, also JSON-escaped, base64-encoded or split by a line wrap.

Inside a git work tree .gitignore is honoured (--no-ignore scans ignored
files too); .git, binary files and files over --max-size are skipped and
counted. A finding names the file, line, column, rule and a redacted match;
for a vault value, which profile and key it is. List reviewed findings'
fingerprints in .okvignore to silence them.

Exit status: 0 nothing found, 1 findings, 2 the scan failed.`,
		Example: `  okv scan
  okv scan --git
  okv scan --staged            # what the pre-commit hook runs
  okv scan --format sarif > okv.sarif`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(o, args)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.staged, "staged", false, "scan the staged changes (git index)")
	f.BoolVar(&o.git, "git", false, "scan every commit's added lines in the whole history")
	f.BoolVar(&o.noIgnore, "no-ignore", false, "also scan files .gitignore excludes")
	f.StringVar(&o.format, "format", "text", "output: text, json or sarif")
	f.Int64Var(&o.maxSize, "max-size", scan.DefaultMaxFileSize, "skip files larger than this many bytes")
	f.BoolVar(&o.vaultValues, "vault", true, "also look for the vault's exact values (unlocks the vault)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no summary line on stderr")
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
	if o.vaultValues {
		opts.Known = a.knownValues()
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
		return &hintError{err: fmt.Errorf("scan failed: %w", err), code: 2}
	}
	return a.writeScan(o.format, r, o.quiet)
}

// writeScan writes the result in format, then the tail on stderr.
func (a *App) writeScan(format string, r scan.Result, quiet bool) error {
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
	return a.scanTail(r, quiet)
}

// scanTail prints the summary, per-file read errors and, for each vault
// key found, what to do now; then sets the exit status.
func (a *App) scanTail(r scan.Result, quiet bool) error {
	for _, fe := range r.Errors {
		fmt.Fprintf(a.Stderr, "okv: warning: %s: %s\n", fe.File, fe.Error)
	}
	seen := map[string]bool{}
	var found []string
	for _, f := range r.Findings {
		if f.Name == "" {
			continue
		}
		k := f.Profile + "\x00" + f.Name
		if !seen[k] {
			seen[k] = true
			found = append(found, fmt.Sprintf("this is your %s %s: rotate it now: okv rotate %s -p %s", f.Profile, f.Name, f.Name, f.Profile))
		}
	}
	sort.Strings(found)
	if !quiet {
		fmt.Fprint(a.Stderr, "okv: ")
		scan.WriteSummary(a.Stderr, r)
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

// knownValues is every secret of every profile, for exact-value search.
// The vault is unlocked quietly when it can be; otherwise okv scans for key
// shapes only and says so.
func (a *App) knownValues() []scan.Known {
	v, err := a.openVault()
	if err != nil {
		return nil
	}
	ids, err := a.unlock(v)
	if err != nil {
		msg, _, _ := a.explain(err)
		fmt.Fprintf(a.Stderr, "okv: warning: looking for key shapes only, not your vault's values: %s\n", msg)
		return nil
	}
	names, _ := v.ProfileNames()
	var known []scan.Known
	for _, p := range names {
		doc, err := v.Load(p, ids)
		if err != nil {
			fmt.Fprintf(a.Stderr, "okv: warning: profile %s not searched for: cannot decrypt it\n", p)
			continue
		}
		for _, n := range doc.Names() {
			known = append(known, scan.Known{Profile: p, Name: n, Value: doc.Secrets[n].Value})
		}
	}
	return known
}
