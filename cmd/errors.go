package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age/plugin"

	"github.com/okvault/okv/shell"
	"github.com/okvault/okv/vault"
)

// Exit codes (documented in the README).
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitLocked = 3
)

// usageError is a command-line mistake: exit 2.
type usageError struct {
	msg   string
	hints []string
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) *usageError {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// hintError attaches hints and an exit code to an error.
type hintError struct {
	err   error
	hints []string
	code  int
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHints(err error, hints ...string) error { return &hintError{err: err, hints: hints} }

// childExit carries a child's exit code through cobra without a message,
// and the signal that killed it, if one did.
type childExit struct {
	code   int
	signal syscall.Signal
}

func (e *childExit) Error() string { return fmt.Sprintf("child exited with %d", e.code) }

// silentError: the command already said everything; exit with code.
type silentError struct{ code int }

func (e *silentError) Error() string { return "" }

// report prints err in okv's grammar and returns the exit code.
func (a *App) report(err error) int {
	var ce *childExit
	if errors.As(err, &ce) {
		a.childSignal = ce.signal
		return ce.code
	}
	var se *silentError
	if errors.As(err, &se) {
		return se.code
	}
	msg, hints, code := a.explain(err)
	fmt.Fprintf(a.Stderr, "okv: error: %s\n", scrubKeys(msg))
	for _, h := range hints {
		fmt.Fprintf(a.Stderr, "okv: hint: %s\n", scrubKeys(h))
	}
	return code
}

// explain maps an error to the message, hints and exit code a user sees.
func (a *App) explain(err error) (string, []string, int) {
	var (
		he    *hintError
		ue    *usageError
		inv   *vault.InvalidInputError
		pnf   *vault.ProfileNotFoundError
		pex   *vault.ProfileExistsError
		snf   *vault.SecretNotFoundError
		tam   *vault.TamperedError
		mis   *vault.MismatchError
		cor   *vault.CorruptError
		nom   *vault.NoMatchError
		con   *vault.ConflictError
		perm  *vault.PermissionError
		unap  *vault.UnapprovedRecipientsError
		pmis  *vault.PolicyMismatchError
		untr  *vault.UntrustedError
		notp  *vault.NotProjectError
		creq  *vault.ConfirmRequiredError
		link  *vault.LinkError
		jrn   *vault.JournalError
		nemp  *vault.NotEmptyError
		dpe   *vault.DefaultProfileError
		start *shell.StartError
		idf   *vault.IdentityFileError
		cfg   *vault.ConfigError
		rcp   *vault.RecipientError
		nor   *vault.NoRecipientsError
		pnf2  *plugin.NotFoundError
		fpe   *vault.ForeignProjectError
		unid  *vault.UnprotectedIdentityError
		bkf   *vault.BackupFileError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &ue):
		if len(ue.hints) == 0 {
			return ue.msg, []string{"run 'okv help' for usage"}, exitUsage
		}
		return ue.msg, ue.hints, exitUsage
	case errors.As(err, &he):
		m, h, code := a.explain(he.err)
		if he.code != 0 {
			code = he.code
		}
		return m, append(he.hints, h...), code
	case errors.As(err, &start):
		return msg, nil, start.Code
	case errors.Is(err, vault.ErrNotInitialized):
		return "no vault found in " + a.vaultDirOrDefault(), []string{"create one with 'okv init'", "or point OKV_HOME at an existing vault folder"}, exitError
	case errors.Is(err, vault.ErrAlreadyInitialized):
		return "a vault already exists in " + a.vaultDirOrDefault(), []string{"use a different OKV_HOME to create another vault"}, exitError
	case errors.As(err, &inv):
		return msg, nil, exitUsage
	case errors.As(err, &pnf) && pnf.Source != "" && pnf.Source != "--profile":
		return msg, []string{"the profile was selected by " + pnf.Source, fmt.Sprintf("create it with 'okv profile create %s'", pnf.Name), "list profiles with 'okv profile ls'"}, exitError
	case errors.As(err, &pnf):
		return msg, []string{fmt.Sprintf("create it with 'okv profile create %s'", pnf.Name), "list profiles with 'okv profile ls'"}, exitError
	case errors.As(err, &pex):
		return msg, []string{"choose another name, or remove it first with 'okv profile rm " + pex.Name + "'"}, exitError
	case errors.As(err, &dpe):
		return fmt.Sprintf("cannot remove profile %q: it is the default profile", dpe.Name), []string{"make another profile the default first with 'okv use OTHER'"}, exitError
	case errors.As(err, &snf):
		return msg, []string{fmt.Sprintf("list the secrets with 'okv ls -p %s'", snf.Profile)}, exitError
	case errors.As(err, &con) && con.Profile == "":
		return msg, []string{
			"config.toml is plain text: edit it to keep both sides (for recipients, the union of both lists), remove the <<<<<<< ======= >>>>>>> lines, then 'git add' it",
			"then run 'okv recipient ls' to check it, and 'okv recipient add' again for members added on the other side so their profiles are re-encrypted to them",
		}, exitError
	case errors.As(err, &con):
		file := "the file"
		if con.Path != "" {
			file = con.Path
		}
		return msg, []string{"an encrypted file cannot be merged: take one side with 'git checkout --ours " + file + "' (or --theirs), then re-apply the other side's change with okv"}, exitError
	case errors.As(err, &tam):
		return fmt.Sprintf("profile %q cannot be decrypted: the file is damaged or was tampered with", tam.Profile), []string{"restore " + a.profileFileHint(tam.Profile) + " from a backup or from git"}, exitError
	case errors.As(err, &mis):
		return msg, []string{fmt.Sprintf("rename the file back to profiles/%s.age, or copy the profile properly with 'okv profile copy'", mis.Inside)}, exitError
	case errors.As(err, &cor):
		return msg, []string{"restore the file from a backup or from git"}, exitError
	case errors.As(err, &nom) && nom.Project:
		var h []string
		if len(nom.Recipients) > 0 {
			h = append(h, "the file is encrypted to: "+shortRecipients(nom.Recipients))
		}
		if nom.Mismatch {
			h = append(h, fmt.Sprintf("the file does not match the recipients config.toml lists for it (see 'okv recipient ls -p %s'): it was written outside okv, or config.toml was edited", nom.Profile))
		}
		me := "YOUR_RECIPIENT"
		if r, err := a.myRecipient(); err == nil {
			me = r
		}
		h = append(h, fmt.Sprintf("ask one of them to run 'okv recipient add -p %s %s' and commit it ('okv identity' prints yours)", nom.Profile, me),
			"if you were removed from it, older versions in git may still open with your key, but the current one will not",
			"if you use another identity, pass it with --identity FILE or OKV_IDENTITY_FILE")
		return msg, h, exitLocked
	case errors.As(err, &nom):
		h := []string{"this vault's identity is not among the file's recipients"}
		if len(nom.Recipients) > 0 {
			h = append(h, "the file is encrypted to: "+shortRecipients(nom.Recipients))
		}
		if nom.Mismatch {
			h = append(h, "the file does not match the recipients config.toml lists for it: it was written outside okv, or config.toml was edited")
		}
		h = append(h, "if you use another identity, pass it with --identity FILE or OKV_IDENTITY_FILE")
		return msg, h, exitLocked
	case errors.As(err, &rcp):
		return msg, []string{"accepted: " + vault.RecipientFormats}, exitUsage
	case errors.As(err, &nor):
		return msg, []string{fmt.Sprintf("add one with 'okv recipient add -p %s RECIPIENT'", nor.Profile)}, exitError
	case errors.As(err, &pnf2):
		return fmt.Sprintf("the age plugin %q is not installed", pnf2.Name), []string{
			fmt.Sprintf("install age-plugin-%s and make sure it is on PATH", pnf2.Name),
		}, exitError
	case errors.As(err, &fpe):
		return msg, []string{
			"if it is yours, fix its owner: chown -R $(id -un) " + fpe.Dir,
			"to use your personal vault here instead, set OKV_HOME to its folder",
		}, exitError
	case errors.Is(err, vault.ErrNoIdentity):
		return msg, []string{
			"create your own identity with 'okv init', then give 'okv identity' to a member of the project",
			"or pass an age identity with --identity FILE or OKV_IDENTITY_FILE",
		}, exitLocked
	case errors.As(err, &nemp):
		return msg, []string{"point OKV_HOME at a new or empty folder"}, exitError
	case errors.As(err, &pmis):
		var h []string
		if pmis.Weaker() {
			h = append(h, "config.toml protects less than the pin: someone or something edited it (for a project vault: git log -p .okv/config.toml)")
		}
		return msg, append(h, "if you meant it, make it so with '"+pmis.PolicyCommand()+"', which pins it inside the encrypted profile",
			"otherwise put config.toml back as it was (in a project vault: git checkout .okv/config.toml)"), exitError
	case errors.As(err, &untr) && untr.Pin:
		return msg, []string{
			"see what it selects and trust it with 'okv trust' (in this folder), or choose the profile with -p/--profile",
			"in CI without a personal vault, OKV_TRUST=1 trusts it for one command",
		}, exitError
	case errors.As(err, &untr):
		return msg, []string{
			"see its recipients, profiles and policies, and trust it, with 'okv trust'",
			"in CI without a personal vault, OKV_TRUST=1 trusts it for one command",
		}, exitError
	case errors.As(err, &notp):
		return msg, []string{"to use it anyway, point OKV_HOME at it"}, exitError
	case errors.As(err, &creq):
		return msg, []string{"confirm non-interactively with --yes/-y"}, exitError
	case errors.As(err, &link) && link.Names > 1:
		q := shellQuoteArg(link.Path)
		if filepath.Base(link.Path) == ".lock" {
			return msg, []string{"remove it (rm " + q + "; okv makes a new one): okv sets its mode through the open file, which would change the file's other name too"}, exitError
		}
		return msg, []string{"give the vault its own copy: cp -p " + q + " " + q + ".copy && mv " + q + ".copy " + q + " (okv changes this file in place, which would change the file's other name too)"}, exitError
	case errors.As(err, &link):
		return msg, []string{"replace the link with the file itself, or remove it: a link in a vault may point at another vault's key or at a file okv would change"}, exitError
	case errors.As(err, &jrn):
		return msg, []string{"move the file away to drop the unfinished change, then check the vault with 'okv doctor'"}, exitError
	case errors.As(err, &unap):
		return msg, []string{
			"someone may be trying to receive the next value written: check who changed config.toml (git log -p .okv/config.toml)",
			fmt.Sprintf("if you meant to add them, approve them with 'okv recipient add -p %s RECIPIENT'; otherwise remove them from config.toml", unap.Profile),
		}, exitError
	case errors.As(err, &perm):
		return msg, []string{"fix it with: " + perm.Fix}, exitError
	case errors.Is(err, vault.ErrKeychainItemMissing):
		return "the vault's identity is missing from the keychain", []string{
			"the keychain item (service okv, account " + a.vaultIDOrUnknown() + ") was deleted or this is another keychain",
			"if you exported it ('okv identity export'), restore it with 'okv init --import-identity FILE'",
			"or restore it from a keychain backup, or unlock with a copy of the identity: --identity FILE or OKV_IDENTITY_FILE",
		}, exitLocked
	case errors.Is(err, vault.ErrKeychainTimeout):
		return "the keychain did not answer in time", []string{
			"it may be waiting for an unlock prompt you cannot see: unlock your keyring and try again",
			"raise the limit with OKV_KEYCHAIN_TIMEOUT=30s",
		}, exitLocked
	case errors.Is(err, vault.ErrKeychainLocked):
		return "the keychain is locked", []string{"unlock your login keyring (for example by logging in to the desktop session) and try again"}, exitLocked
	case errors.Is(err, vault.ErrKeychainUnavailable):
		return "no keychain is reachable (" + rawCause(err) + ")", []string{
			"start okv inside a desktop session, or under 'dbus-run-session' with an unlocked gnome-keyring",
			"or unlock with an age identity file: --identity FILE or OKV_IDENTITY_FILE",
		}, exitLocked
	case errors.Is(err, vault.ErrWrongPassphrase):
		return "wrong passphrase", []string{"try again; the passphrase is the one given to 'okv init --backend passphrase'"}, exitLocked
	case errors.Is(err, errInterrupted):
		return msg, nil, 130
	case errors.Is(err, vault.ErrNoTerminal):
		return "a prompt is needed but there is no terminal", []string{"a passphrase vault: run 'okv unlock' once on a terminal, and later commands need no prompt until it locks"}, exitLocked
	case errors.Is(err, vault.ErrIdentityFileNeeded):
		return msg, []string{"pass it with --identity FILE or OKV_IDENTITY_FILE", "or give it once to the agent with 'okv unlock --identity FILE'"}, exitLocked
	case errors.Is(err, vault.ErrLockTimeout):
		return msg, []string{"another okv is writing; if none is running, retry"}, exitError
	case errors.As(err, &bkf):
		return msg, []string{"give the file 'okv identity export' wrote"}, exitError
	case errors.As(err, &unid):
		return msg, []string{"fix it with: " + unid.Fix(), "if others could read it, assume the key is known: make a new one and re-encrypt to it"}, exitError
	case errors.As(err, &idf):
		return msg, []string{"make one with 'age-keygen -o FILE', or check the path"}, exitLocked
	case errors.As(err, &cfg):
		return msg, []string{"fix config.toml by hand, or restore it from a backup"}, exitError
	case isRotationError(err):
		return explainRotation(err)
	case errors.Is(err, fs.ErrPermission):
		return msg, nil, exitError
	}
	return msg, nil, exitError
}

// rawCause is the low-level reason of a keychain error, for context.
func rawCause(err error) string {
	var ke *vault.KeychainError
	if errors.As(err, &ke) && ke.Raw != nil {
		s := ke.Raw.Error()
		if len(s) > 160 {
			s = s[:157] + "..."
		}
		return s
	}
	return "unknown cause"
}

func (a *App) vaultDirOrDefault() string {
	d, err := vault.DefaultDir(a.Getenv)
	if err != nil {
		return "the default folder"
	}
	return d
}

func (a *App) vaultIDOrUnknown() string {
	d, err := vault.DefaultDir(a.Getenv)
	if err != nil {
		return "?"
	}
	v, err := vault.Open(d)
	if err != nil {
		return "?"
	}
	return v.Config.VaultID
}

func (a *App) profileFileHint(profile string) string {
	if a.loc.Dir != "" {
		return a.loc.Dir + "/profiles/" + profile + ".age"
	}
	d, err := vault.DefaultDir(a.Getenv)
	if err != nil {
		return "profiles/" + profile + ".age"
	}
	return d + "/profiles/" + profile + ".age"
}

func shortRecipients(rs []string) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = vault.ShortRecipient(r)
	}
	return strings.Join(out, ", ")
}

// scrubKeys: okv never puts a stored value into a message, but a user can
// paste a key where a name or a flag value goes, and several messages
// quote what the user typed: this is the last line of defence for those.
func scrubKeys(s string) string { return vault.ScrubTokens(s) }
