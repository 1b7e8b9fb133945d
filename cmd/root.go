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

func (a *App) newRootCmd() *cobra.Command { return a.newRootCmdFor(nil) }

// fastCommands are the commands whose start-up is on the user's critical
// path (okv run before every npm start): when one is invoked, App.Run
// builds the root with it alone instead of the whole tree. Everything that
// needs the full tree (help, completion, man pages, suggestions for a
// mistyped command) is invoked under another name and gets it.
var fastCommands = map[string]func(*App) *cobra.Command{
	"run":   (*App).newRunCmd,
	"shell": (*App).newShellCmd,
}

// newRootCmdFor builds the root with only the subcommand only makes, or the
// whole tree when only is nil. The root's flags, templates and error
// handling are the same either way.
func (a *App) newRootCmdFor(only func(*App) *cobra.Command) *cobra.Command {
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
		// Without a subcommand, show help (exit 0) like most CLIs.
	}
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

	if only != nil {
		root.AddCommand(only(a))
		wrapArgs(root.Commands()[0])
		strictHelp(root)
		// Completion runs under its own name (__complete, completion)
		// and gets the whole tree: cobra's default completion command,
		// four subcommands and their flags, is not built for okv run.
		root.CompletionOptions.DisableDefaultCmd = true
		return root
	}
	root.AddCommand(
		a.newInitCmd(),
		a.newIdentityCmd(),
		a.newRecipientCmd(),
		a.newSetCmd(),
		a.newGetCmd(),
		a.newReadCmd(),
		a.newInjectCmd(),
		a.newAdoptCmd(),
		a.newLsCmd(),
		a.newRmCmd(),
		a.newRunCmd(),
		a.newShellCmd(),
		a.newProfileCmd(),
		a.newUseCmd(),
		a.newTrustCmd(),
		a.newUntrustCmd(),
		a.newDoctorCmd(),
		a.newPolicyCmd(),
		a.newProxyCmd(),
		a.newUsageCmd(),
		a.newPriceCmd(),
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
		a.newUnlockCmd(),
		a.newLockCmd(),
		a.newAgentCmd(),
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	strictHelp(root)
	return root
}

// versionFlag gives root -v/--version, printing "okv VERSION", as
// cobra's own flag with root.Version and SetVersionTemplate would, but
// without a template: any use of text/template (SetVersionTemplate, or a
// usage or help template) makes the linker keep every exported method of
// every type, because templates call methods by name. That was 2 MB of
// okv's 12 MB binary, mapped on every okv run (issue 21); cobra's default
// help and usage are plain functions. The flag is cobra's (same name,
// shorthand, usage and annotation); root runs no command, so cobra answers
// --version with root's help function, which prints the version instead
// when the flag was given and --help was not. App.Run adds it to the
// tree it executes, as cobra adds its own when it executes: generators
// (man pages) read the tree without it, as before.
func versionFlag(root *cobra.Command) {
	root.Flags().BoolP("version", "v", false, "version for "+root.Name())
	root.Flags().SetAnnotation("version", cobra.FlagSetByCobraAnnotation, []string{"true"})
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c == root {
			v, _ := c.Flags().GetBool("version")
			h, _ := c.Flags().GetBool("help")
			if v && !h {
				fmt.Fprintf(c.OutOrStdout(), "okv %s\n", ReadBuildInfo().Version)
				return
			}
		}
		help(c, args)
	})
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

// env is the domain's view of this command's surroundings (environment,
// folder, -p flag); vault.Env makes every trust and policy decision.
func (a *App) env() *vault.Env {
	if a.venv == nil {
		cwd, _ := a.Getwd()
		a.venv = &vault.Env{Getenv: a.Getenv, Cwd: cwd, ProfileFlag: a.profileFlag, Now: a.Now, PluginUI: a.pluginUI(),
			Notify: func(line string) { fmt.Fprintln(a.Stderr, line) }}
	}
	return a.venv
}

// openVault opens the vault a command uses: $OKV_HOME, else a trusted
// project vault (.okv/) in the working folder or a parent, else the
// personal vault; or explains how to create one.
func (a *App) openVault() (*vault.Vault, error) {
	e := a.env()
	v, err := e.OpenVault()
	a.loc = e.Location
	return v, err
}

func (a *App) unlocker() *vault.Unlocker {
	if a.idUnlocker == nil {
		// The personal vault's folder is found only if a project vault
		// needs it (Getenv): finding it opens $OKV_HOME's vault again.
		a.idUnlocker = &vault.Unlocker{Keychain: a.Keychain, Prompter: ttyPrompter{a}, IdentityFile: a.identityFile(),
			Getenv: a.Getenv, PluginUI: a.pluginUI()}
		if !a.agentOff() {
			a.idUnlocker.Agent = agentSource{a}
		}
	}
	return a.idUnlocker
}

// unlock returns the identities that open v's profiles.
func (a *App) unlock(v *vault.Vault) ([]ageIdentity, error) {
	return a.unlocker().Identities(v)
}

// profile resolves the profile to use and checks that it exists: a typo
// never creates a profile, and an untrusted .okv-profile chooses nothing.
func (a *App) profile(v *vault.Vault) (string, error) {
	r, err := a.env().ResolveProfile(v)
	return r.Name, err
}

// explicitProfile is the profile named by --profile/-p or OKV_PROFILE, or
// "" (every profile) when neither names one: for reports that cover all
// profiles unless the user narrows them.
func (a *App) explicitProfile(v *vault.Vault) (string, error) {
	if a.profileFlag == "" && a.Getenv("OKV_PROFILE") == "" {
		return "", nil
	}
	return a.profile(v)
}

// confirmUse enforces a protected profile's confirm policy, as config.toml
// says it, for commands that change a profile without reading it. Commands
// that read a profile go through use, which takes the pinned policy.
func (a *App) confirmUse(v *vault.Vault, profile, what string) error {
	if !v.Config.Policy(profile).Confirm {
		return nil
	}
	return a.askConfirm(profile, what)
}

// askConfirm asks before a protected profile is used for what (--yes
// answers for the user).
func (a *App) askConfirm(profile, what string) error {
	if a.yes {
		return nil
	}
	ok, err := a.confirm(fmt.Sprintf("okv: profile %s is protected. Use it for %s?", profile, what))
	if errors.Is(err, vault.ErrNoTerminal) {
		return &vault.ConfirmRequiredError{Profile: profile}
	}
	if err != nil {
		return err
	}
	if !ok {
		return &vault.NotConfirmedError{Profile: profile}
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

// use is the one way a command gets a profile's secrets: vault.Env.Use
// decides trust, pins, confirmation and unlock; purpose is what they are
// used for ("" for commands that only change the vault).
func (a *App) use(purpose string) (*vault.Use, error) {
	u, err := a.env().Use(vault.UseRequest{Purpose: purpose, Unlocker: a.unlocker(), Confirm: a.confirm, Yes: a.yes})
	a.loc = a.env().Location
	return u, err
}

// retrust records a trusted project vault again after this command changed
// what the trust covers; a failure is reported, and the next command asks
// for 'okv trust' (never the reverse).
func (a *App) retrust(v *vault.Vault) {
	if err := a.env().Retrust(v); err != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: could not record the change in your trust record: %v\n", err)
	}
}

// profileLabel names where a change went: "profile dev", and for a project
// vault which vault and how many recipients can decrypt it, since a key
// stored there is shared with all of them.
func (a *App) profileLabel(v *vault.Vault, profile string) string {
	if !v.Config.IsProject() {
		return "profile " + profile
	}
	n := len(v.RecipientStrings(profile))
	plural := "s"
	if n == 1 {
		plural = ""
	}
	return fmt.Sprintf("profile %s of the project vault %s (encrypted to %d recipient%s)", profile, v.Dir, n, plural)
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
		if le := (*vault.LinkError)(nil); errors.As(err, &le) {
			_, hints, _ := a.explain(le)
			for _, h := range hints {
				fmt.Fprintf(a.Stderr, "okv: hint: %s\n", h)
			}
		}
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

// openProfile is use, in the shape most commands take it.
func (a *App) openProfile(confirmFor string) (*vault.Vault, string, []ageIdentity, error) {
	u, err := a.use(confirmFor)
	if err != nil {
		return nil, "", nil, err
	}
	return u.Vault, u.Profile, u.IDs, nil
}

// openedSecret is a secret with the profile and vault it came from.
type openedSecret struct {
	*vault.Use
	v       *vault.Vault
	profile string
	ids     []ageIdentity
	doc     *vault.Document
	s       *vault.Secret
}

// openSecret is use followed by finding the secret name in the profile (a
// *vault.SecretNotFoundError when it is absent).
func (a *App) openSecret(name, confirmFor string) (*openedSecret, error) {
	if err := vault.ValidateSecretName(name); err != nil {
		return nil, err
	}
	u, err := a.use(confirmFor)
	if err != nil {
		return nil, err
	}
	o := &openedSecret{Use: u, v: u.Vault, profile: u.Profile, ids: u.IDs, doc: u.Doc}
	if o.s, err = u.Doc.Secret(name); err != nil {
		return o, err
	}
	return o, nil
}
