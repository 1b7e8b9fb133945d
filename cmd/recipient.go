package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newRecipientCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "recipient",
		Short: "Share a profile with teammates' public keys: add, ls, rm",
		Long: `A profile can be encrypted to more recipients than your own identity: a
teammate's age key, an SSH key, a CI identity, a hardware key through an age
plugin. Each then opens the profile with their own identity. Recipients are
public keys, kept in config.toml under [profiles.NAME] recipients.

Accepted: ` + vault.RecipientFormats + `.

Adding or removing one re-encrypts the profile. Removing one closes later
versions only: whoever held that key may have kept a copy, so rotate the keys
('okv rotate').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRecipientLs()
		},
	}
	var addFiles, rmFiles []string
	add := &cobra.Command{
		Use:   "add [RECIPIENT...]",
		Short: "Encrypt the profile to more recipients",
		Example: `  okv recipient add -p dev age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  okv recipient add -p dev "$(cat ~/.ssh/id_ed25519.pub)"
  okv recipient add -p dev -f team.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRecipientAdd(args, addFiles)
		},
	}
	add.Flags().StringArrayVarP(&addFiles, "file", "f", nil, "read recipients from FILE (one per line, # comments), like age -R")
	add.MarkFlagFilename("file")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the profile's recipients, one per line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRecipientLs()
		},
	}
	rm := &cobra.Command{
		Use:   "rm [RECIPIENT...]",
		Short: "Stop encrypting the profile to recipients (then rotate its keys)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRecipientRm(args, rmFiles)
		},
		ValidArgsFunction: a.completeRecipients,
	}
	rm.Flags().StringArrayVarP(&rmFiles, "file", "f", nil, "read recipients to remove from FILE")
	rm.MarkFlagFilename("file")
	c.AddCommand(add, ls, rm)
	return c
}

// recipientArgs normalizes recipients given as arguments and in files.
// Anything that is not a recipient is a usage error naming the accepted
// formats; a private key is refused without being echoed.
func (a *App) recipientArgs(args, files []string) ([]string, error) {
	var out []string
	for _, s := range args {
		r, err := vault.NormalizeRecipient(s)
		if err != nil {
			return nil, a.recipientUsage(err, s)
		}
		out = append(out, r)
	}
	for _, f := range files {
		rs, err := vault.ReadRecipientsFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &usageError{msg: fmt.Sprintf("recipients file %s does not exist", f)}
		}
		if err != nil {
			return nil, a.recipientUsage(err, "")
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, &usageError{msg: "no recipient given", hints: []string{"give recipients as arguments or in a file with -f/--file FILE", "accepted: " + vault.RecipientFormats}}
	}
	return out, nil
}

func (a *App) recipientUsage(err error, arg string) error {
	var re *vault.RecipientError
	if !errors.As(err, &re) {
		return err
	}
	ue := &usageError{msg: re.Error()}
	if re.Private {
		ue.hints = []string{"give the public key instead: 'okv identity' or 'age-keygen -y KEYFILE' prints it, or use an SSH key's .pub file"}
		return ue
	}
	ue.hints = []string{"accepted: " + vault.RecipientFormats}
	if arg != "" {
		if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
			ue.hints = append(ue.hints, "to read recipients from the file "+arg+", use -f/--file "+arg)
		}
	}
	return ue
}

func (a *App) runRecipientLs() error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	for _, r := range v.RecipientStrings(profile) {
		fmt.Fprintln(a.Stdout, r)
	}
	return nil
}

func (a *App) runRecipientAdd(args, files []string) error {
	rs, err := a.recipientArgs(args, files)
	if err != nil {
		return err
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	// Sharing a protected profile is a use of it.
	if err := a.confirmUse(v, profile, "okv recipient add"); err != nil {
		return err
	}
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	ch, err := v.AddRecipients(profile, ids, rs)
	if err != nil {
		return err
	}
	a.retrust(v)
	a.audit(v, "recipient-add", profile, nil, "")
	for _, r := range ch.Added {
		fmt.Fprintf(a.Stderr, "okv: profile %s is now also encrypted to %s\n", profile, vault.ShortRecipient(r))
	}
	for _, r := range ch.Already {
		fmt.Fprintf(a.Stderr, "okv: %s was already a recipient of profile %s (re-encrypted all the same)\n", vault.ShortRecipient(r), profile)
	}
	if v.Config.IsProject() && len(ch.Added) > 0 {
		fmt.Fprintln(a.Stderr, "okv: commit .okv/ and push, so they get it")
	}
	return nil
}

func (a *App) runRecipientRm(args, files []string) error {
	rs, err := a.recipientArgs(args, files)
	if err != nil {
		return err
	}
	v, profile, ids, err := a.openProfile("okv recipient rm")
	if err != nil {
		return err
	}
	if err := a.confirmOwnRecipientRemoval(v, profile, rs); err != nil {
		return err
	}
	ch, err := v.RemoveRecipients(profile, ids, rs)
	var nf *vault.RecipientNotFoundError
	var own *vault.OwnRecipientError
	var none *vault.NoRecipientsError
	switch {
	case errors.As(err, &nf):
		return withHints(err, fmt.Sprintf("list them with 'okv recipient ls -p %s'", profile))
	case errors.As(err, &own):
		return withHints(err, "this vault's own identity always opens its profiles; remove other recipients only")
	case errors.As(err, &none):
		return withHints(fmt.Errorf("cannot remove the last recipient of profile %s: nobody could open it", profile),
			fmt.Sprintf("to delete the profile, use 'okv profile rm %s'", profile))
	case err != nil:
		return err
	}
	a.retrust(v)
	a.audit(v, "recipient-rm", profile, nil, "")
	me, _ := a.myRecipient()
	for _, r := range ch.Removed {
		fmt.Fprintf(a.Stderr, "okv: profile %s is no longer encrypted to %s\n", profile, vault.ShortRecipient(r))
		if me != "" && vault.SameRecipient(r, me) {
			fmt.Fprintf(a.Stderr, "okv: warning: that was your own recipient: you can no longer open profile %s\n", profile)
		}
	}
	fmt.Fprintf(a.Stderr, "okv: warning: whoever holds the removed key may have kept a copy of profile %s's secrets (an old git checkout still decrypts the old file)\n", profile)
	if len(ch.Secrets) > 0 {
		cmds := make([]string, len(ch.Secrets))
		for i, n := range ch.Secrets {
			cmds[i] = fmt.Sprintf("okv rotate %s -p %s", n, profile)
		}
		fmt.Fprintf(a.Stderr, "okv: warning: rotate them: %s\n", strings.Join(cmds, "; "))
	}
	if v.Config.IsProject() {
		fmt.Fprintln(a.Stderr, "okv: commit .okv/ and push")
	}
	return nil
}

// confirmOwnRecipientRemoval asks before the user removes their own
// recipient from a (project) profile, which locks them out of it. Removing
// other recipients, or what the vault refuses anyway (the last one, a
// personal vault's own), is not asked about.
func (a *App) confirmOwnRecipientRemoval(v *vault.Vault, profile string, rs []string) error {
	me, err := a.myRecipient()
	if err != nil || !v.Config.IsProject() {
		return nil
	}
	cur := v.RecipientStrings(profile)
	mine, removed := false, 0
	for _, c := range cur {
		for _, r := range rs {
			if vault.SameRecipient(c, r) {
				removed++
				mine = mine || vault.SameRecipient(c, me)
				break
			}
		}
	}
	if !mine || removed >= len(cur) {
		return nil
	}
	return a.confirmRemoval("remove your own recipient "+vault.ShortRecipient(me)+" from profile "+profile,
		"you will no longer be able to open profile "+profile+" until a member adds you back")
}

// completeRecipients completes the profile's recipients from config.toml
// (public keys, no unlock).
func (a *App) completeRecipients(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	v, err := a.openVault()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	profile, err := a.profile(v)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, r := range v.RecipientStrings(profile) {
		if !v.Config.IsProject() && r == v.Config.Recipient {
			continue
		}
		if strings.HasPrefix(r, toComplete) {
			out = append(out, r)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
