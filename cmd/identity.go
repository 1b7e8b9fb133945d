package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newIdentityCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "identity",
		Short: "Print your public recipient (age1…) to give to a teammate; export a backup",
		Long: `Print your public recipient: the public half of your personal vault's
identity, or of the --identity FILE (OKV_IDENTITY_FILE) when one is given. It
is not secret. A teammate adds it to a profile with 'okv recipient add', after
which you can open that profile with your own identity.

'okv identity export' writes a passphrase-encrypted backup of the identity
itself, to restore with 'okv init --import-identity FILE'.`,
		Example: `  okv identity
  OKV_IDENTITY_FILE=ci-key.txt okv identity    # the recipient of a CI identity
  okv identity export -o /media/usb/okv-identity.age`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.myRecipient()
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, r)
			if a.Terminal.IsTerminal(a.Stdout) {
				fmt.Fprintln(a.Stderr, "okv: give it to a teammate, who runs 'okv recipient add -p PROFILE "+r+"'")
			}
			return nil
		},
	}
	c.AddCommand(a.newIdentityExportCmd())
	return c
}

func (a *App) newIdentityExportCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "export [-o FILE]",
		Short: "Write a passphrase-encrypted backup of your keychain identity",
		Long: `Write your personal vault's identity (the private key in the keychain, or
behind the passphrase backend) encrypted with a passphrase you choose (age's
scrypt recipient, ASCII-armored), for an offline backup: if the keychain item
is lost, every profile encrypted to it is lost with it.

The backup goes to a new file given with -o/--output (0600; an existing file
is never replaced) or to a pipe, never to a terminal. Restore it with
'okv init --import-identity FILE'. The plain age command opens it too:
'age -d FILE > key.txt' gives an age identity file (usable as
OKV_IDENTITY_FILE). 'okv doctor' warns until a backup has been made.`,
		Example: `  okv identity export -o /media/usb/okv-identity.age
  okv identity export | lpr`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runIdentityExport(out)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the backup to this new file (default: stdout, when it is not a terminal)")
	c.MarkFlagFilename("output")
	return c
}

func (a *App) runIdentityExport(out string) error {
	if a.identityFile() != "" {
		return &usageError{msg: "okv identity export backs up your personal vault's identity, and --identity/OKV_IDENTITY_FILE names another one",
			hints: []string{"an identity file is its own backup: copy the file", "unset OKV_IDENTITY_FILE to export the keychain identity"}}
	}
	if out == "" && a.Terminal.IsTerminal(a.Stdout) {
		return &usageError{msg: "refusing to write the identity backup to the terminal",
			hints: []string{"write it to a new file with -o/--output FILE, or redirect it: 'okv identity export > FILE'"}}
	}
	if out != "" {
		if _, err := os.Lstat(out); err == nil {
			return withHints(fmt.Errorf("%s already exists: okv never replaces a file with a backup", out),
				"choose another name, or remove the old file first")
		}
	}
	dir, err := vault.PersonalDir(a.Getenv)
	if err != nil {
		return err
	}
	pv, err := vault.Open(dir)
	if err != nil {
		return err
	}
	switch {
	case pv.Config.IsProject():
		return withHints(errors.New("a project vault has no identity of its own to export"),
			"each member exports their own: run 'okv identity export' outside OKV_HOME")
	case pv.Config.Backend == vault.BackendFile:
		return withHints(errors.New("this vault is unlocked by an identity file given on every use: that file is the identity"),
			"back up the identity file itself")
	}
	u := &vault.Unlocker{Keychain: a.Keychain, Prompter: ttyPrompter{a}, PersonalDir: dir}
	a.idUnlocker = u // the audit record below is keyed with this unlock: one prompt, not two
	ids, err := u.Identities(pv)
	if err != nil {
		return err
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return errors.New("the vault's identity is not an X25519 age identity")
	}
	pass, err := a.newPassphraseFor("Passphrase for the identity backup: ", "Repeat the passphrase: ",
		withHints(errors.New("the backup's passphrase is read from the terminal, and there is none"),
			"run 'okv identity export -o FILE' on a terminal"))
	if err != nil {
		return err
	}
	defer wipe(pass)
	data, err := vault.ExportIdentity(id, pass, pv.Config.VaultID, a.Now())
	if err != nil {
		return err
	}
	if out == "" {
		if _, err := a.Stdout.Write(data); err != nil {
			return err
		}
	} else if err := vault.WriteFileExclusive(out, data); errors.Is(err, fs.ErrExist) {
		return withHints(fmt.Errorf("%s already exists: okv never replaces a file with a backup", out), "choose another name, or remove the old file first")
	} else if err != nil {
		return err
	}
	if err := pv.MarkIdentityExported(a.Now()); err != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: could not record the export in %s: %v\n", pv.StatePath(), err)
	}
	a.audit(pv, "identity-export", "", nil, "")
	where := "stdout"
	if out != "" {
		where = out
	}
	fmt.Fprintf(a.Stderr, "okv: wrote the identity of vault %s to %s, encrypted with your passphrase\n", pv.Config.VaultID, where)
	fmt.Fprintln(a.Stderr, "okv: keep it offline; restore it with 'okv init --import-identity FILE' ('age -d FILE' opens it too)")
	return nil
}
