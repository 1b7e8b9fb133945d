package cmd

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

func (a *App) newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check the backend, permissions and that every profile decrypts",
		Long: `Check the vault: the folder and file permissions, that the unlock backend
answers, and that every profile decrypts and is valid. Prints one line per
check; exits 1 when any check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDoctor()
		},
	}
}

func (a *App) runDoctor() error {
	problems := 0
	ok := func(format string, args ...any) { fmt.Fprintf(a.Stdout, "ok    "+format+"\n", args...) }
	bad := func(hint string, format string, args ...any) {
		problems++
		fmt.Fprintf(a.Stdout, "FAIL  "+format+"\n", args...)
		if hint != "" {
			fmt.Fprintf(a.Stdout, "      fix: %s\n", hint)
		}
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	dir := v.Dir
	ok("vault %s (%s/%s, okv %s)", dir, runtime.GOOS, runtime.GOARCH, Version)
	ok("using the %s", a.vaultLabel(v))
	switch by := a.env().TrustedBy(); by {
	case "":
	case "OKV_TRUST=1":
		ok("trusted for this command only (OKV_TRUST=1)")
	default:
		ok("trusted: recipients, policies and profiles as you accepted them with 'okv trust'")
	}

	if perms := v.CheckPermissions(); len(perms) == 0 && v.Config.IsProject() {
		ok("permissions: nothing group- or world-writable")
	} else if len(perms) == 0 {
		ok("permissions: folders 0700, files 0600")
	} else {
		for _, p := range perms {
			bad(p.Fix, "permissions: %s is %04o", p.Path, p.Mode.Perm())
		}
	}

	backend := v.Config.Backend
	if a.identityFlag != "" || a.Getenv("OKV_IDENTITY_FILE") != "" {
		backend = "identity file"
	}
	if v.Config.IsProject() {
		backend = a.projectBackendLabel()
		if files, err := v.PrivateKeyFiles(); err != nil {
			bad("", "private keys: cannot scan %s: %v", dir, err)
		} else if len(files) > 0 {
			for _, f := range files {
				bad("remove it, and purge it from git history: it is committed with the project", "private key material in %s", f)
			}
		} else {
			ok("no private key in the project vault")
		}
	}
	ids, err := a.unlock(v)
	if err != nil {
		msg, hints, _ := a.explain(err)
		hint := ""
		if len(hints) > 0 {
			hint = hints[0]
		}
		bad(hint, "backend %s: %s", backend, msg)
		return &silentError{code: exitLocked}
	}
	ok("backend %s: unlocked", backend)
	a.doctorIdentityBackup(v, ok)

	names, err := v.ProfileNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		doc, err := v.Load(n, ids)
		if err != nil {
			msg, hints, _ := a.explain(err)
			hint := ""
			if len(hints) > 0 {
				hint = hints[0]
			}
			bad(hint, "profile %s: %s", n, msg)
			continue
		}
		if err := v.CheckRecipients(doc); err != nil {
			msg, hints, _ := a.explain(err)
			bad(hints[len(hints)-1], "profile %s: %s", n, msg)
			continue
		}
		if err := v.CheckPolicy(doc); err != nil {
			msg, hints, _ := a.explain(err)
			bad(hints[len(hints)-1], "profile %s: %s", n, msg)
			continue
		}
		ok("profile %s: decrypts, %d secret(s)", n, len(doc.Secrets))
		maxAge := v.Config.Policy(n).EffectiveMaxAge()
		for _, o := range doc.Overdue(maxAge, a.Now()) {
			// Overdue is a reminder, not a broken vault: it does not fail doctor.
			fmt.Fprintf(a.Stdout, "warn  profile %s: %s is %s old (max %s)\n", n, o.Name, humanAge(o.Age), vault.Duration(maxAge))
			fmt.Fprintf(a.Stdout, "      fix: okv rotate %s -p %s\n", o.Name, n)
		}
	}
	if !v.HasProfile(v.Config.DefaultProfile) {
		bad("okv use PROFILE", "default profile %q does not exist", v.Config.DefaultProfile)
	}
	if c, err := v.VerifyAudit(v.AuditKeys(ids)); err != nil {
		bad("", "audit log: %v", err)
	} else if len(c.Breaks) > 0 {
		bad("inspect it with 'okv log --verify'", "audit log: %s", auditBreaks(c))
	} else if c.Records > 0 && c.Keyed == 0 {
		// Not broken, but not authenticated either: it does not fail doctor.
		fmt.Fprintf(a.Stdout, "warn  audit log: %d record(s), %s\n", c.Records, auditSummary(c))
	} else {
		ok("audit log: %d record(s), %s", c.Records, auditSummary(c))
	}
	if why, err := proxy.LedgerProblem(v.Dir, a.Now()); err != nil {
		var fe *proxy.FileError
		if errors.As(err, &fe) {
			bad(fe.Fix, "usage ledger: %s %s", fe.Path, fe.Problem)
		} else {
			bad("", "usage ledger: %s", strings.TrimPrefix(err.Error(), "usage ledger: "))
		}
	} else if why != "" {
		bad("once you know why: okv usage --reset-ledger", "usage ledger edited or truncated (%s): daily budgets are taken as spent", why)
	} else {
		ok("usage ledger: chained, intact")
	}
	for _, k := range a.strayEnvKeys(true) {
		// A warning, not a failure: the vault is fine, the shell is not.
		fmt.Fprintf(a.Stdout, "warn  environment: %s\n", k.text())
		fmt.Fprintf(a.Stdout, "      fix: %s\n", strayFix)
	}
	if problems > 0 {
		return &silentError{code: exitError}
	}
	return nil
}

// doctorIdentityBackup warns while the personal vault's keychain identity
// has never been exported: losing the keychain item would lose every
// profile encrypted to it. A warning, not a failure, like an overdue key.
func (a *App) doctorIdentityBackup(v *vault.Vault, ok func(string, ...any)) {
	pv := v
	if v.Config.IsProject() {
		dir, err := vault.PersonalDir(a.Getenv)
		if err != nil {
			return
		}
		if pv, err = vault.Open(dir); err != nil || pv.Config.IsProject() {
			return
		}
	}
	if pv.Config.Backend != vault.BackendKeychain {
		return
	}
	if at, done := pv.IdentityExportedAt(); done {
		ok("identity backup: exported %s", stamp(at))
		return
	}
	fmt.Fprintln(a.Stdout, "warn  identity backup: none was ever made: if the keychain item is lost, every profile encrypted to it is lost")
	fmt.Fprintln(a.Stdout, "      fix: okv identity export -o FILE (and keep FILE offline)")
}
