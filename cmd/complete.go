package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

// completeProfiles lists profile names from file names: no unlock.
func (a *App) completeProfiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	v, err := a.openVault()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := v.ProfileNames()
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeProfileArg completes profile names for positional arguments.
func (a *App) completeProfileArg(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return a.completeProfiles(cmd, args, toComplete)
}

// completeSecrets lists the secret names of the current profile. It
// unlocks silently: no prompt (a passphrase vault completes nothing), and
// nothing at all on any failure.
func (a *App) completeSecrets(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.secretNamesQuietly(), cobra.ShellCompDirectiveNoFileComp
}

// completeOnly completes the last element of --only A,B.
func (a *App) completeOnly(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix := toComplete[:strings.LastIndex(toComplete, ",")+1]
	var out []string
	for _, n := range a.secretNamesQuietly() {
		out = append(out, prefix+n)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeEnvMap completes DEST=NAME with NAME from the profile.
func (a *App) completeEnvMap(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	dest, _, ok := strings.Cut(toComplete, "=")
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
	var out []string
	for _, n := range a.secretNamesQuietly() {
		out = append(out, dest+"="+n)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func (a *App) secretNamesQuietly() []string {
	v, err := a.openVault()
	if err != nil {
		return nil
	}
	profile, err := a.profile(v)
	if err != nil {
		return nil
	}
	idFile := a.identityFlag
	if idFile == "" {
		idFile = a.Getenv("OKV_IDENTITY_FILE")
	}
	u := &vault.Unlocker{Keychain: a.Keychain, Prompter: nil, IdentityFile: idFile}
	ids, err := u.Identities(v)
	if err != nil {
		return nil
	}
	doc, err := v.Load(profile, ids)
	if err != nil {
		return nil
	}
	return doc.Names()
}
