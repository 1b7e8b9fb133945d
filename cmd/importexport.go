package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/dotenv"
	"github.com/okvault/okv/vault"
)

func (a *App) newImportCmd() *cobra.Command {
	var force, del bool
	c := &cobra.Command{
		Use:   "import FILE.env [-p P] [--force] [--delete]",
		Short: "Move the keys of a .env file into the vault",
		Long: `Read a dotenv file (quotes, escapes, 'export ' prefixes, comments and
multi-line values as dotenv and dotenvx accept them; a '#' starts a comment
after a blank, as in docker compose; ${VAR} is never expanded) and store every
entry in the profile. A name assigned twice keeps its last value; empty values
are skipped, with a notice. Secrets that already exist are not overwritten
without --force; nothing is stored unless every entry is valid. The report
names what was imported, never a value.

Afterwards okv offers, on a terminal, to delete the file; --delete deletes it
without asking. (Deleting removes the file; copies in backups, editors' swap
files or git history are not reached: 'okv scan --git' finds the latter.)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runImport(args[0], force, del)
		},
	}
	c.Flags().BoolVar(&force, "force", false, "overwrite secrets that already exist")
	c.Flags().BoolVar(&del, "delete", false, "delete the file after a successful import")
	return c
}

func (a *App) runImport(path string, force, del bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	entries, err := dotenv.Parse(data)
	var pe *dotenv.ParseError
	if errors.As(err, &pe) {
		return &usageError{msg: fmt.Sprintf("%s: %v", path, err), hints: []string{"fix that line; values are never shown in errors"}}
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("%s holds no KEY=value entries", path)
	}
	for _, e := range entries {
		if err := vault.ValidateSecretName(e.Key); err != nil {
			return withHints(fmt.Errorf("%s line %d: %w", path, e.Line, err))
		}
	}
	// A name assigned twice: the last assignment wins, as dotenv, docker
	// compose and a shell read it.
	entries, dups := dotenv.Last(entries)
	var notices []string
	var kept []dotenv.Entry
	for _, e := range entries {
		if lines := dups[e.Key]; len(lines) > 0 {
			notices = append(notices, fmt.Sprintf("warning: %s is assigned on lines %s: the last one (line %d) is imported", e.Key, joinLines(lines), e.Line))
		}
		if e.Value == "" {
			notices = append(notices, fmt.Sprintf("skipped %s (line %d): its value is empty, and okv stores no empty values", e.Key, e.Line))
			continue
		}
		if err := vault.ValidateValue([]byte(e.Value)); err != nil {
			return &usageError{msg: fmt.Sprintf("%s line %d (%s): %v", path, e.Line, e.Key, err)}
		}
		if e.AmbiguousHash() {
			notices = append(notices, fmt.Sprintf("warning: %s (line %d): the '#' in its unquoted value is kept, as docker compose reads it (node's dotenv cuts the value there): quote the value to be sure", e.Key, e.Line))
		}
		kept = append(kept, e)
	}
	entries = kept
	if len(entries) == 0 {
		for _, n := range notices {
			fmt.Fprintf(a.Stderr, "okv: %s\n", n)
		}
		return fmt.Errorf("%s holds no value to import: every entry is empty", path)
	}
	v, profile, ids, err := a.openProfile("")
	if err != nil {
		return err
	}
	var names []string
	err = v.Update(profile, ids, func(d *vault.Document) error {
		var clash []string
		for _, e := range entries {
			if s, ok := d.Secrets[e.Key]; ok && s.Value != e.Value && !force {
				clash = append(clash, e.Key)
			}
		}
		if len(clash) > 0 {
			return withHints(fmt.Errorf("profile %s already has %s; nothing was imported", profile, strings.Join(clash, ", ")),
				"pass --force to overwrite them (the old values go to their history)")
		}
		for _, e := range entries {
			if _, err := d.SetSecret(e.Key, []byte(e.Value), a.Now()); err != nil {
				return err
			}
			names = append(names, e.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.audit(v, "import", profile, names, "")
	for _, n := range notices {
		fmt.Fprintf(a.Stderr, "okv: %s\n", n)
	}
	fmt.Fprintf(a.Stderr, "okv: imported %d secret(s) into profile %s: %s\n", len(names), profile, strings.Join(names, ", "))
	a.noteProviders(v.Config.Policy(profile), entries)

	if !del {
		ok, err := a.confirm(fmt.Sprintf("okv: delete %s now that its keys are in the vault?", path))
		if errors.Is(err, vault.ErrNoTerminal) {
			fmt.Fprintf(a.Stderr, "okv: hint: %s still holds the keys in plaintext: delete it (or rerun with --delete)\n", path)
			return nil
		}
		if err != nil || !ok {
			fmt.Fprintf(a.Stderr, "okv: kept %s: it still holds the keys in plaintext\n", path)
			return nil
		}
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: deleted %s\n", path)
	return nil
}

func (a *App) newExportCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "export [-p P] [--format dotenv|json]",
		Short: "Print the profile's secrets as dotenv or JSON (plaintext: handle with care)",
		Long: `Print every secret of the profile, in plaintext, as a dotenv file or a JSON
object. This is the explicit way out of the vault (backups, migration); okv
warns when stdout is a terminal, and the export is recorded in the audit log.`,
		Example: "  okv export -p dev --format dotenv > backup.env",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExport(format)
		},
	}
	c.Flags().StringVar(&format, "format", "dotenv", "dotenv or json")
	c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"dotenv", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func (a *App) runExport(format string) error {
	if format != "dotenv" && format != "json" {
		return usagef("--format %q: use dotenv or json", format)
	}
	v, profile, ids, err := a.openProfile("okv export")
	if err != nil {
		return err
	}
	doc, err := v.Load(profile, ids)
	if err != nil {
		return err
	}
	if a.Terminal.IsTerminal(a.Stdout) {
		fmt.Fprintf(a.Stderr, "okv: warning: printing every secret of profile %s in plaintext to the terminal\n", profile)
	}
	names := doc.Names()
	a.audit(v, "export", profile, names, "")
	if format == "json" {
		m := make(map[string]string, len(names))
		for _, n := range names {
			m[n] = doc.Secrets[n].Value
		}
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	entries := make([]dotenv.Entry, len(names))
	for i, n := range names {
		entries[i] = dotenv.Entry{Key: n, Value: doc.Secrets[n].Value}
	}
	_, err = a.Stdout.Write(dotenv.Format(entries))
	return err
}

// joinLines says "2 and 6" or "2, 4 and 6".
func joinLines(lines []int) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = fmt.Sprint(l)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// noteProviders says which provider each imported key is for (by name or
// shape, as okv verify places it), and warns of a name and a shape that
// disagree.
func (a *App) noteProviders(pol vault.Policy, entries []dotenv.Entry) {
	var placed []string
	for _, e := range entries {
		pv, why := providerOf(pol, e.Key, []byte(e.Value))
		switch {
		case pv != nil:
			placed = append(placed, fmt.Sprintf("%s (%s)", e.Key, pv.Name))
		case strings.HasPrefix(why, "its name is"):
			fmt.Fprintf(a.Stderr, "okv: warning: %s: %s\n", e.Key, why)
		}
	}
	if len(placed) > 0 {
		fmt.Fprintf(a.Stderr, "okv: provider keys: %s; 'okv run --proxy' gives apps a token in their place\n", strings.Join(placed, ", "))
	}
}
