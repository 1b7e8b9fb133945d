package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "okv",
		Short: "A local, encrypted vault for API keys",
		Long: `okv keeps API keys (OPENAI_API_KEY first of all) age-encrypted per profile,
unlocked by an identity in your OS keychain, and hands them to one command:

    okv run -- npm start

The keys reach that child's environment only: never your shell, argv or a
plaintext file.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       ReadBuildInfo().Version,
		// Without a subcommand, show help (exit 0) like most CLIs.
	}
	root.SetVersionTemplate("okv {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVarP(&a.profileFlag, "profile", "p", "", "profile to use (default: OKV_PROFILE, .okv-profile, then the default profile)")
	pf.StringVar(&a.identityFlag, "identity", "", "age identity file to unlock with instead of the backend (also OKV_IDENTITY_FILE)")
	pf.BoolVarP(&a.yes, "yes", "y", false, "answer yes to confirmation prompts (protected profiles, rm, profile rm, removing your own recipient)")
	root.RegisterFlagCompletionFunc("profile", a.completeProfiles)
	root.MarkPersistentFlagFilename("identity")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// pflag quotes the whole argument of an unknown shorthand ("in
		// -sk-abc…"): cut it, it may be a pasted secret.
		msg, _, _ := strings.Cut(err.Error(), " in -")
		return &usageError{msg: msg, hints: []string{helpHint(c)}}
	})

	root.AddCommand(
		a.newInitCmd(),
		a.newIdentityCmd(),
		a.newRecipientCmd(),
		a.newSetCmd(),
		a.newGetCmd(),
		a.newLsCmd(),
		a.newRmCmd(),
		a.newRunCmd(),
		a.newShellCmd(),
		a.newProfileCmd(),
		a.newUseCmd(),
		a.newDoctorCmd(),
		a.newPolicyCmd(),
		a.newProxyCmd(),
		a.newUsageCmd(),
		a.newScanCmd(),
		a.newHookCmd(),
		a.newImportCmd(),
		a.newExportCmd(),
		a.newStatusCmd(),
		a.newRotateCmd(),
		a.newHistoryCmd(),
		a.newRollbackCmd(),
		a.newVerifyCmd(),
		a.newLogCmd(),
		a.newCompletionCmd(),
		a.newVersionCmd(),
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	strictHelp(root)
	return root
}

// strictHelp makes 'okv help TOPIC' of an unknown topic a usage error
// (exit 2) instead of cobra's usage text on stdout with exit 0.
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, h := range root.Commands() {
		if h.Name() != "help" || h.Run == nil {
			continue
		}
		run := h.Run
		h.Run = nil
		h.RunE = func(c *cobra.Command, args []string) error {
			if t, rest, err := root.Find(args); t == nil || err != nil || len(rest) > 0 {
				topic := strings.Join(args, " ")
				if len(topic) > 64 {
					topic = topic[:64] + "…"
				}
				return &usageError{msg: fmt.Sprintf("unknown help topic %q", topic), hints: []string{"see 'okv --help' for the commands"}}
			}
			run(c, args)
			return nil
		}
	}
}

// wrapArgs turns cobra's argument-count errors into usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				// pflag quotes the whole argument of an unknown shorthand ("in
				// -sk-abc…"): cut it, it may be a pasted secret.
				msg, _, _ := strings.Cut(err.Error(), " in -")
				return &usageError{msg: msg, hints: []string{helpHint(cmd)}}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// vaultDir is where the personal vault lives.
func (a *App) vaultDir() (string, error) { return vault.DefaultDir(a.Getenv) }

// openVault opens the vault a command uses: $OKV_HOME, else a project
// vault (.okv/) in the working folder or a parent, else the personal
// vault; or explains how to create one.
func (a *App) openVault() (*vault.Vault, error) {
	cwd, _ := a.Getwd()
	loc, err := vault.Locate(a.Getenv, cwd)
	if err != nil {
		return nil, err
	}
	a.loc = loc
	v, err := vault.Open(loc.Dir)
	if err != nil {
		return nil, err
	}
	v.Now = a.Now
	v.PluginUI = a.pluginUI()
	return v, nil
}

// unlock returns the identities that open v's profiles.
func (a *App) unlock(v *vault.Vault) ([]ageIdentity, error) {
	if a.unlocker == nil {
		personal, _ := vault.PersonalDir(a.Getenv)
		a.unlocker = &vault.Unlocker{Keychain: a.Keychain, Prompter: ttyPrompter{a}, IdentityFile: a.identityFile(),
			PersonalDir: personal, PluginUI: a.pluginUI()}
	}
	return a.unlocker.Identities(v)
}

// profile resolves the profile to use and checks that it exists: a typo
// never creates a profile.
func (a *App) profile(v *vault.Vault) (string, error) {
	cwd, _ := a.Getwd()
	r, err := vault.ResolveProfile(a.profileFlag, a.Getenv, cwd, v.Config)
	if err != nil {
		return "", err
	}
	if !v.HasProfile(r.Name) {
		err := error(&vault.ProfileNotFoundError{Name: r.Name})
		if r.Source != "--profile" {
			err = withHints(err, "the profile was selected by "+r.Source)
		}
		return "", err
	}
	return r.Name, nil
}

// confirmUse enforces a protected profile's confirm policy before its
// secrets are used by what (a command name or an action).
func (a *App) confirmUse(v *vault.Vault, profile, what string) error {
	if !v.Config.Policy(profile).Confirm || a.yes {
		return nil
	}
	ok, err := a.confirm(fmt.Sprintf("okv: profile %s is protected. Use it for %s?", profile, what))
	if errors.Is(err, vault.ErrNoTerminal) {
		return withHints(fmt.Errorf("profile %s is protected and there is no terminal to confirm on", profile),
			"confirm non-interactively with --yes/-y")
	}
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("not confirmed: profile %s was not used", profile)
	}
	return nil
}

// confirmRemoval asks before a command that destroys something (what: "remove
// X from profile P"; warning: what it means, or ""). -y/--yes answers yes;
// without a terminal to ask on it is refused, so that a script never
// deletes by accident.
func (a *App) confirmRemoval(what, warning string) error {
	if a.yes {
		return nil
	}
	q := "okv: " + what + "?"
	if warning != "" {
		q = "okv: " + warning + "\n" + q
	}
	ok, err := a.confirm(q)
	if errors.Is(err, vault.ErrNoTerminal) {
		return withHints(fmt.Errorf("refusing to %s without confirmation: there is no terminal to ask on", what),
			"confirm non-interactively with --yes/-y")
	}
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("not confirmed: nothing was removed")
	}
	return nil
}

// audit appends a record; a failure is reported but does not stop the
// command, so a full disk does not lock a user out of their keys. The
// record is keyed with the vault's identity: commands that did not unlock
// yet unlock here (the keychain answers silently; a passphrase vault asks
// once).
func (a *App) audit(v *vault.Vault, op, profile string, secrets []string, command string) {
	cwd, _ := a.Getwd()
	rec := vault.AuditRecord{Time: a.Now(), Op: op, Profile: profile, Secrets: secrets, Command: command, Dir: cwd, PID: os.Getpid()}
	var key *vault.AuditKey
	ids, err := a.unlock(v)
	if keys := v.AuditKeys(ids); len(keys) > 0 {
		key = keys[0]
	} else {
		why := "no identity to key it with (a plugin identity cannot key it)"
		if err != nil {
			why, _, _ = a.explain(err)
		}
		fmt.Fprintf(a.Stderr, "okv: warning: this audit record is not authenticated: %s; 'okv log --verify' will report it\n", why)
	}
	var hm *vault.AuditHeadMismatchError
	if err := v.Audit(rec, key); errors.As(err, &hm) {
		fmt.Fprintf(a.Stderr, "okv: warning: %v\n", err)
	} else if err != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: could not write the audit log: %v\n", err)
	}
}

// commandName is what the audit log records of a command line: the base
// name of the program only, never its arguments (they may hold anything).
func commandName(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return filepath.Base(args[0])
}

// openProfile is how most commands start: open the vault, resolve the
// profile, enforce its confirm policy for confirmFor (an action or command
// name; "" for commands that only change the vault), and unlock.
func (a *App) openProfile(confirmFor string) (*vault.Vault, string, []ageIdentity, error) {
	v, err := a.openVault()
	if err != nil {
		return nil, "", nil, err
	}
	profile, err := a.profile(v)
	if err != nil {
		return nil, "", nil, err
	}
	if confirmFor != "" {
		if err := a.confirmUse(v, profile, confirmFor); err != nil {
			return nil, "", nil, err
		}
	}
	ids, err := a.unlock(v)
	if err != nil {
		return nil, "", nil, err
	}
	return v, profile, ids, nil
}

// openedSecret is a secret with the profile and vault it came from.
type openedSecret struct {
	v       *vault.Vault
	profile string
	ids     []ageIdentity
	doc     *vault.Document
	s       *vault.Secret
}

// openSecret is openProfile followed by loading the profile and finding
// the secret name in it (a *vault.SecretNotFoundError when it is absent).
func (a *App) openSecret(name, confirmFor string) (*openedSecret, error) {
	if err := vault.ValidateSecretName(name); err != nil {
		return nil, err
	}
	v, profile, ids, err := a.openProfile(confirmFor)
	if err != nil {
		return nil, err
	}
	doc, err := v.Load(profile, ids)
	if err != nil {
		return nil, err
	}
	o := &openedSecret{v: v, profile: profile, ids: ids, doc: doc}
	if o.s, err = doc.Secret(name); err != nil {
		return o, err
	}
	return o, nil
}
