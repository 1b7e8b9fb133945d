package cmd

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or change a profile's policy: confirm, proxy, rotation period, proxy limits",
		Long:  "Show or change a profile's policy, kept in config.toml and pinned inside the\nencrypted profile (a config.toml that differs from the pin is refused). Settings:\n\n" + policyHelp(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showPolicy()
		},
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the profile's effective policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showPolicy()
		},
	}
	set := &cobra.Command{
		Use:               "set KEY=VALUE...",
		Short:             "Change policy settings",
		Long:              "Change policy settings of the profile. Settings:\n\n" + policyHelp(),
		Example:           "  okv policy set -p prod rpm=60 tpm=100000 models=gpt-4o-mini,text-embedding-3-small daily_tokens=2000000\n  okv policy set -p prod daily_usd=5 monthly_usd=100 warn_usd=4 max_output_tokens=4k anthropic.daily_usd=2\n  okv policy set -p dev max_age=30d",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completePolicyAssign,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changePolicy(func(p *vault.Policy) error { return p.Set(args) }, "policy-set", args)
		},
	}
	unset := &cobra.Command{
		Use:               "unset KEY...",
		Short:             "Reset policy settings to their defaults",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: cobra.FixedCompletions(vault.PolicyKeyNames(), cobra.ShellCompDirectiveNoFileComp),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changePolicy(func(p *vault.Policy) error { return p.Unset(args) }, "policy-unset", args)
		},
	}
	c.AddCommand(show, set, unset)
	return c
}

func policyHelp() string {
	var b strings.Builder
	for _, k := range vault.PolicyKeys {
		fmt.Fprintf(&b, "  %-13s %s\n", k.Name, k.Help)
	}
	return b.String()
}

func completePolicyAssign(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, k := range vault.PolicyKeys {
		out = append(out, k.Name+"=\t"+k.Help)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

func (a *App) showPolicy() error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	// What is in effect is the pinned policy: show it where the profile
	// opens, and say when config.toml disagrees (the profile is then
	// refused until they agree again).
	p := v.Config.Policy(profile)
	if ids, err := a.unlock(v); err != nil {
		msg, _, _ := a.explain(err)
		fmt.Fprintf(a.Stderr, "okv: note: as config.toml says; not checked against the policy pinned in the profile (%s)\n", msg)
	} else if doc, err := v.Load(profile, ids); err != nil {
		msg, _, _ := a.explain(err)
		fmt.Fprintf(a.Stderr, "okv: note: as config.toml says; not checked against the policy pinned in the profile (%s)\n", msg)
	} else {
		if err := v.CheckPolicy(doc); err != nil {
			fmt.Fprintf(a.Stderr, "okv: warning: %s; the profile is refused until they agree; shown: the pinned policy\n", err)
		}
		p = v.EffectivePolicy(doc)
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "# profile %s\n", profile)
	for _, kv := range p.Values() {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// changePolicy unlocks first and then writes the document (with the new
// pin) and config.toml as one change: a command that fails, at unlock or
// anywhere else, changes no file.
func (a *App) changePolicy(fn func(*vault.Policy) error, op string, args []string) error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	// Bad input is a usage error before anything is asked or unlocked.
	trial := v.Config.Policy(profile)
	if err := fn(&trial); err != nil {
		return policyUsage(err)
	}
	if err := vault.ValidateUpstream(trial.Upstream); err != nil {
		return policyUsage(err)
	}
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	doc, err := v.Load(profile, ids)
	if err != nil {
		return err
	}
	// Changing a protected profile's policy is itself a use to confirm:
	// protected by the pin or by config.toml (a mismatch, which okv
	// policy resolves, asks under the stronger of the two).
	if v.EffectivePolicy(doc).Confirm || v.Config.Policy(profile).Confirm {
		if err := a.askConfirm(profile, "okv policy"); err != nil {
			return err
		}
	}
	if _, err := v.SetPolicy(profile, ids, fn); err != nil {
		return policyUsage(err)
	}
	a.retrust(v)
	keys := make([]string, len(args))
	for i, s := range args {
		keys[i], _, _ = strings.Cut(s, "=")
	}
	a.audit(v, op, profile, nil, strings.Join(keys, ","))
	fmt.Fprintf(a.Stderr, "okv: updated the policy of profile %s\n", profile)
	return nil
}

func policyUsage(err error) error {
	var pe *vault.PolicyError
	if errors.As(err, &pe) {
		return &usageError{msg: pe.Error(), hints: []string{"see 'okv policy set --help' for the settings"}}
	}
	return err
}
