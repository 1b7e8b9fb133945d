package cmd

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newTrustCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "trust",
		Short: "Show what this folder's .okv/ and .okv-profile do, and trust them",
		Long: `A project vault (.okv/) found from the working folder and a .okv-profile are
untrusted input: a cloned repository chose them. okv uses nothing in them until
you trust them. 'okv trust' prints what they decide (the vault's profiles, each
profile's recipients and policy, the upstream its keys may go to, the profile a
.okv-profile selects) and records it in your personal vault. A later change to
any of that (a new recipient, a weaker policy, another profile) needs
'okv trust' again, and okv says what changed.

Without a personal vault (CI with OKV_IDENTITY_FILE), set OKV_TRUST=1 to trust
them for one command; okv says so on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runTrust() },
	}
}

func (a *App) newUntrustCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "untrust",
		Short: "Forget the trust given to this folder's .okv/ and .okv-profile",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return a.runUntrust() },
	}
}

// trustTargets are the project vault and the .okv-profile that apply in
// the working folder (either may be absent).
func (a *App) trustTargets() (v *vault.Vault, pinPath, pinName string, err error) {
	cwd, _ := a.Getwd()
	loc, err := vault.Locate(a.Getenv, cwd)
	if err != nil {
		return nil, "", "", err
	}
	v, err = vault.Open(loc.Dir)
	if err != nil && !errors.Is(err, vault.ErrNotInitialized) {
		return nil, "", "", err
	}
	if err == nil && loc.Source == "project" && !v.Config.IsProject() {
		return nil, "", "", &vault.NotProjectError{Dir: v.Dir}
	}
	if loc.Source != "project" && v != nil {
		// The personal vault needs no trust; a pin may still apply to it.
		v.PluginUI = a.pluginUI()
		pinName, pinPath, err = vault.FindProfilePin(cwd)
		return nil, pinPath, pinName, err
	}
	if v != nil {
		v.PluginUI = a.pluginUI()
	}
	pinName, pinPath, err = vault.FindProfilePin(cwd)
	return v, pinPath, pinName, err
}

func (a *App) runTrust() error {
	store := a.env().TrustStore()
	pv, pinPath, pinName, err := a.trustTargets()
	if err != nil {
		return err
	}
	if err := store.Available(); err != nil {
		return trustStoreErr(err)
	}
	if pv == nil && pinPath == "" {
		return withHints(errors.New("nothing to trust here: no project vault (.okv/) and no .okv-profile in this folder or its parents"),
			"your personal vault needs no trust")
	}
	if pv != nil {
		a.showVault(pv)
		if err := store.TrustVault(pv); err != nil {
			return trustStoreErr(err)
		}
		fmt.Fprintf(a.Stderr, "okv: trusted the project vault %s\n", pv.Dir)
	}
	if pinPath != "" {
		target := pv
		if target == nil {
			if target, err = a.openVaultUntrusted(); err != nil {
				return err
			}
		}
		if err := vault.ValidateProfileName(pinName); err != nil {
			return fmt.Errorf("%w (from %s)", err, pinPath)
		}
		fmt.Fprintf(a.Stdout, "%s selects profile %s of %s\n", pinPath, pinName, target.Dir)
		if !target.HasProfile(pinName) {
			fmt.Fprintf(a.Stdout, "  (profile %s does not exist there)\n", pinName)
		}
		if err := store.TrustPin(pinPath, target.Dir, pinName); err != nil {
			return trustStoreErr(err)
		}
		fmt.Fprintf(a.Stderr, "okv: trusted %s\n", pinPath)
	}
	fmt.Fprintln(a.Stderr, "okv: 'okv untrust' takes it back; a change to what you trusted needs 'okv trust' again")
	return nil
}

// openVaultUntrusted opens the vault a .okv-profile applies to when there
// is no project vault (the personal vault or OKV_HOME's).
func (a *App) openVaultUntrusted() (*vault.Vault, error) {
	cwd, _ := a.Getwd()
	loc, err := vault.Locate(a.Getenv, cwd)
	if err != nil {
		return nil, err
	}
	return vault.Open(loc.Dir)
}

func trustStoreErr(err error) error {
	if errors.Is(err, vault.ErrNoTrustStore) {
		return withHints(errors.New("there is no personal vault to record the trust in"),
			"create yours with 'okv init'",
			"in CI, set OKV_TRUST=1 to trust this folder's .okv/ and .okv-profile for one command")
	}
	return err
}

// showVault prints what trusting pv means: its profiles, their recipients,
// their policy (pinned inside the profile where okv can decrypt it) and
// where their keys may be sent.
func (a *App) showVault(pv *vault.Vault) {
	out := a.Stdout
	fmt.Fprintf(out, "project vault %s (%s), default profile %s\n", pv.Dir, pv.Config.VaultID, pv.Config.DefaultProfile)
	ids, unlockErr := a.unlock(pv)
	snap := pv.Snapshot()
	names, _ := pv.ProfileNames()
	for n := range snap.Profiles {
		if !pv.HasProfile(n) {
			names = append(names, n)
		}
	}
	me, _ := a.myRecipient()
	for _, n := range names {
		ps := snap.Profiles[n]
		fmt.Fprintf(out, "profile %s\n", n)
		for _, r := range ps.Recipients {
			mark := ""
			if me != "" && vault.SameRecipient(me, r) {
				mark = " (you)"
			}
			fmt.Fprintf(out, "  recipient %s%s\n", vault.ShortRecipient(r), mark)
		}
		p := pv.Config.Policy(n)
		var status string
		if unlockErr != nil {
			status = "pinned policy not checked: " + pinUnreadable(a, unlockErr)
		} else {
			if !pv.HasProfile(n) {
				status = "no profile file"
			} else if doc, err := pv.Load(n, ids); err != nil {
				status = "pinned policy not checked: " + pinUnreadable(a, err)
			} else if err := pv.CheckPolicy(doc); err != nil {
				status = "REFUSED on use: " + err.Error()
			} else {
				status = "pinned in the encrypted profile"
				p = pv.EffectivePolicy(doc)
			}
		}
		var kv []string
		for _, x := range p.Values() {
			if x[0] == "max_age" {
				continue
			}
			kv = append(kv, x[0]+"="+x[1])
		}
		fmt.Fprintf(out, "  policy %s\n  (%s)\n", strings.Join(kv, " "), status)
		if strings.HasPrefix(status, "REFUSED") {
			continue
		}
		up, err := vault.Upstream(p.Upstream, a.Getenv)
		if err != nil {
			up = "nowhere (" + err.Error() + ")"
		}
		fmt.Fprintf(out, "  keys go to %s\n", up)
	}
}

func pinUnreadable(a *App, err error) string {
	msg, _, _ := a.explain(err)
	return msg
}

func (a *App) runUntrust() error {
	store := a.env().TrustStore()
	pv, pinPath, _, err := a.trustTargets()
	if err != nil {
		return err
	}
	var paths []string
	if pv != nil {
		paths = append(paths, pv.Dir)
	}
	if pinPath != "" {
		paths = append(paths, pinPath)
	}
	forgot := false
	for _, p := range paths {
		ok, err := store.Untrust(p)
		if err != nil {
			return trustStoreErr(err)
		}
		if ok {
			forgot = true
			fmt.Fprintf(a.Stderr, "okv: no longer trusted: %s\n", p)
		}
	}
	if !forgot {
		cwd, _ := a.Getwd()
		return fmt.Errorf("nothing trusted applies to %s", filepath.Clean(cwd))
	}
	return nil
}
