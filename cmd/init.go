package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newInitCmd() *cobra.Command {
	var backend, importFrom string
	var project bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create the vault: an identity in the OS keychain and the profile dev",
		Long: `Create the vault folder ($OKV_HOME, else the user config folder's okv/) with a
fresh age identity and an empty profile "dev", the default.

The identity goes into the OS keychain (--backend keychain, the default). Where
no keychain answers (no D-Bus session, headless SSH, WSL, containers) okv says
so and, on a terminal, offers a passphrase instead (--backend passphrase).
With --identity FILE (or OKV_IDENTITY_FILE) the vault is encrypted to that age
identity, which must then be given on every use: the way for CI.

With --import-identity FILE, restore an identity from a backup made by 'okv
identity export' (the passphrase is asked on the terminal): into the keychain
when the vault exists and its keychain item was lost, or into a new vault
(with --backend as above) on a new machine.

With --project, create a project vault in ./.okv/ instead, to commit to the
repository: config and profiles only, never an identity. Its profile dev is
encrypted to your own public recipient (your personal vault's, or the
--identity file's); share it with 'okv recipient add'. Inside the repository
okv finds it by walking up from the working folder and uses it instead of your
personal vault (unless OKV_HOME is set); each teammate decrypts with their own
identity.`,
		Example: `  okv init
  okv init --backend passphrase
  okv init --import-identity /media/usb/okv-identity.age
  okv init --project && git add .okv && git commit -m "okv project vault"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if importFrom != "" {
				if project {
					return usagef("--project and --import-identity do not go together: a project vault has no identity of its own")
				}
				return a.runInitImport(importFrom, backend, cmd.Flags().Changed("backend"))
			}
			if project {
				if cmd.Flags().Changed("backend") {
					return usagef("--project and --backend do not go together: a project vault has no identity of its own")
				}
				return a.runInitProject()
			}
			return a.runInit(backend, cmd.Flags().Changed("backend"))
		},
	}
	c.Flags().StringVar(&backend, "backend", vault.BackendKeychain, "where the identity lives: keychain or passphrase")
	c.Flags().BoolVar(&project, "project", false, "create a project vault in ./.okv/ to commit to git, shared through recipients")
	c.Flags().StringVar(&importFrom, "import-identity", "", "restore the identity from a backup made by 'okv identity export' (into the keychain of an existing vault, or a new vault)")
	c.MarkFlagFilename("import-identity")
	c.RegisterFlagCompletionFunc("backend", cobra.FixedCompletions([]string{vault.BackendKeychain, vault.BackendPassphrase}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func (a *App) runInit(backend string, explicit bool) error {
	dir, err := a.vaultDir()
	if err != nil {
		return err
	}
	idFile := a.identityFlag
	if idFile == "" {
		idFile = a.Getenv("OKV_IDENTITY_FILE")
	}
	opts := vault.InitOptions{Backend: backend, Keychain: a.Keychain, Now: a.Now}
	switch {
	case idFile != "" && !explicit:
		ids, err := vault.ReadIdentityFile(idFile)
		if err != nil {
			return err
		}
		opts.Backend, opts.Identity = vault.BackendFile, ids[0]
	case backend == vault.BackendKeychain, backend == vault.BackendPassphrase:
	default:
		return usagef("unknown backend %q: use --backend keychain or --backend passphrase", backend)
	}

	if opts.Backend == vault.BackendPassphrase {
		if opts.Passphrase, err = a.newPassphrase(); err != nil {
			return err
		}
	}
	_, err = vault.Init(dir, opts)
	if opts.Backend == vault.BackendKeychain && isKeychainDown(err) {
		fmt.Fprintf(a.Stderr, "okv: the OS keychain is not available: %s\n", a.keychainReason(err))
		if explicit {
			return err
		}
		ok, cerr := a.confirm("okv: protect the vault with a passphrase instead?")
		if errors.Is(cerr, vault.ErrNoTerminal) {
			return &hintError{err: errors.New("cannot create the vault: no keychain, and no terminal to ask for a passphrase"), code: exitLocked, hints: []string{
				"run okv init inside a desktop session or under 'dbus-run-session' with an unlocked gnome-keyring",
				"or run 'okv init --backend passphrase' on a terminal",
				"or, for CI, create an identity with 'age-keygen -o key.txt' and run 'OKV_IDENTITY_FILE=key.txt okv init'",
			}}
		}
		if cerr != nil {
			return cerr
		}
		if !ok {
			return &hintError{err: errors.New("no vault created"), code: exitLocked, hints: []string{"run 'okv init --backend passphrase' when you are ready"}}
		}
		opts.Backend = vault.BackendPassphrase
		if opts.Passphrase, err = a.newPassphrase(); err != nil {
			return err
		}
		_, err = vault.Init(dir, opts)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: created a vault in %s (backend %s) with the profile dev\n", dir, opts.Backend)
	fmt.Fprintln(a.Stderr, "okv: next, store your key with 'okv set' and use it with 'okv run -- CMD'")
	if opts.Backend == vault.BackendPassphrase {
		fmt.Fprintln(a.Stderr, "okv: every command asks for the passphrase; 'okv unlock' asks once and spares further prompts until the agent locks (10 minutes unused, 12 hours at most)")
	}
	return nil
}

func isKeychainDown(err error) bool {
	return errors.Is(err, vault.ErrKeychainUnavailable) || errors.Is(err, vault.ErrKeychainLocked) || errors.Is(err, vault.ErrKeychainTimeout)
}

func (a *App) keychainReason(err error) string {
	msg, _, _ := a.explain(err)
	return msg
}

// newPassphrase asks for a new passphrase twice.
func (a *App) newPassphrase() ([]byte, error) {
	return a.newPassphraseFor("Choose a passphrase for the okv vault: ", "Repeat the passphrase: ",
		withHints(errors.New("the passphrase backend needs a terminal to read the passphrase"),
			"for CI, create an identity with 'age-keygen -o key.txt' and run 'OKV_IDENTITY_FILE=key.txt okv init'"))
}

// newPassphraseFor asks for a new passphrase twice, with these prompts;
// noTTY is the error without a terminal.
func (a *App) newPassphraseFor(prompt, again string, noTTY error) ([]byte, error) {
	p1, err := a.readHidden(prompt)
	if errors.Is(err, vault.ErrNoTerminal) {
		return nil, noTTY
	}
	if err != nil {
		return nil, err
	}
	if len(p1) < 8 {
		return nil, &usageError{msg: "the passphrase is too short: use at least 8 characters"}
	}
	p2, err := a.readHidden(again)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) {
		return nil, errors.New("the passphrases do not match; nothing was created")
	}
	return p1, nil
}

// runInitImport restores an identity backup: into the keychain of the
// existing vault it belongs to, or into a new vault.
func (a *App) runInitImport(path, backend string, explicit bool) error {
	if a.identityFile() != "" {
		return usagef("--import-identity and --identity/OKV_IDENTITY_FILE do not go together")
	}
	if backend != vault.BackendKeychain && backend != vault.BackendPassphrase {
		return usagef("unknown backend %q: use --backend keychain or --backend passphrase", backend)
	}
	dir, err := a.vaultDir()
	if err != nil {
		return err
	}
	existing, err := vault.Open(dir)
	if err != nil && !errors.Is(err, vault.ErrNotInitialized) {
		return err
	}
	switch {
	case existing != nil && existing.Config.IsProject():
		return withHints(fmt.Errorf("%s is a project vault, which has no identity of its own", dir),
			"restore your personal identity with OKV_HOME unset, or pointing at your personal vault")
	case existing != nil && explicit:
		return usagef("--backend applies to a new vault only: the vault in %s exists (backend %s)", dir, existing.Config.Backend)
	}
	if existing != nil && existing.Config.Backend != vault.BackendKeychain {
		return withHints(fmt.Errorf("the vault in %s keeps its identity in its %s backend, not in the keychain", dir, existing.Config.Backend),
			"to make a new vault from the backup, point OKV_HOME at a new folder")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("cannot read the identity backup: %v", err)}
	}
	pass, err := a.readHidden(fmt.Sprintf("Passphrase for %s: ", path))
	if errors.Is(err, vault.ErrNoTerminal) {
		return withHints(errors.New("the backup's passphrase is read from the terminal, and there is none"),
			"run 'okv init --import-identity FILE' on a terminal",
			"or, for CI, decrypt it with 'age -d FILE > key.txt' and use OKV_IDENTITY_FILE=key.txt")
	}
	if err != nil {
		return err
	}
	defer wipe(pass)
	id, err := vault.ImportIdentity(path, data, pass)
	if errors.Is(err, vault.ErrWrongPassphrase) {
		return &hintError{err: fmt.Errorf("wrong passphrase: %s did not open", path), code: exitLocked,
			hints: []string{"the passphrase is the one given to 'okv identity export'; nothing was changed"}}
	}
	if err != nil {
		return err
	}
	if existing != nil {
		already, err := existing.RestoreKeychainIdentity(a.Keychain, id)
		var mis *vault.IdentityMismatchError
		switch {
		case errors.As(err, &mis):
			return withHints(err, "this is another vault's backup: to make a new vault from it, point OKV_HOME at a new folder")
		case errors.Is(err, vault.ErrKeychainHoldsOther):
			return withHints(err, "okv never replaces a keychain item; if it is damaged, delete it with your keychain's tool first")
		case err != nil:
			return err
		}
		existing.MarkIdentityExported(a.Now())
		a.audit(existing, "identity-import", "", nil, "")
		if already {
			fmt.Fprintf(a.Stderr, "okv: the keychain already holds the identity of vault %s: nothing to do\n", existing.Config.VaultID)
			return nil
		}
		fmt.Fprintf(a.Stderr, "okv: restored the identity of vault %s into the keychain\n", existing.Config.VaultID)
		return nil
	}
	opts := vault.InitOptions{Backend: backend, Keychain: a.Keychain, Identity: id, Now: a.Now}
	if backend == vault.BackendPassphrase {
		if opts.Passphrase, err = a.newPassphrase(); err != nil {
			return err
		}
	}
	v, err := vault.Init(dir, opts)
	if err != nil {
		return err
	}
	if backend == vault.BackendKeychain {
		v.MarkIdentityExported(a.Now())
	}
	fmt.Fprintf(a.Stderr, "okv: created a vault in %s (backend %s) with the restored identity %s and the profile dev\n", dir, backend, vault.ShortRecipient(v.Config.Recipient))
	fmt.Fprintln(a.Stderr, "okv: project vaults and profile files encrypted to it open with it again")
	return nil
}
