package cmd

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newInitCmd() *cobra.Command {
	var backend string
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

With --project, create a project vault in ./.okv/ instead, to commit to the
repository: config and profiles only, never an identity. Its profile dev is
encrypted to your own public recipient (your personal vault's, or the
--identity file's); share it with 'okv recipient add'. Inside the repository
okv finds it by walking up from the working folder and uses it instead of your
personal vault (unless OKV_HOME is set); each teammate decrypts with their own
identity.`,
		Example: `  okv init
  okv init --backend passphrase
  okv init --project && git add .okv && git commit -m "okv project vault"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	p1, err := a.readHidden("Choose a passphrase for the okv vault: ")
	if errors.Is(err, vault.ErrNoTerminal) {
		return nil, withHints(errors.New("the passphrase backend needs a terminal to read the passphrase"),
			"for CI, create an identity with 'age-keygen -o key.txt' and run 'OKV_IDENTITY_FILE=key.txt okv init'")
	}
	if err != nil {
		return nil, err
	}
	if len(p1) < 8 {
		return nil, &usageError{msg: "the passphrase is too short: use at least 8 characters"}
	}
	p2, err := a.readHidden("Repeat the passphrase: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) {
		return nil, errors.New("the passphrases do not match; nothing was created")
	}
	return p1, nil
}
