package cmd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/vault"
)

func (a *App) newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or change a profile's policy: confirm, proxy, rotation period, proxy limits",
		Long:  "Show or change a profile's policy (kept in config.toml). Settings:\n\n" + policyHelp(),
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
		Example:           "  okv policy set -p prod rpm=60 tpm=100000 models=gpt-4o-mini,text-embedding-3-small daily_tokens=2000000\n  okv policy set -p dev max_age=30d",
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
	p := v.Config.Policy(profile)
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "# profile %s\n", profile)
	for _, kv := range p.Values() {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

func (a *App) changePolicy(fn func(*vault.Policy) error, op string, args []string) error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	// Loosening a protected profile's policy is itself a use to confirm.
	if err := a.confirmUse(v, profile, "okv policy"); err != nil {
		return err
	}
	err = v.UpdateConfig(func(c *vault.Config) error {
		p := c.Policy(profile)
		if err := fn(&p); err != nil {
			return err
		}
		if p.Upstream != "" {
			if _, err := openai.ParseBaseURL(p.Upstream); err != nil {
				return &vault.PolicyError{Key: "upstream", Reason: err.Error()}
			}
		}
		c.Profiles[profile] = &p
		return nil
	})
	var pe *vault.PolicyError
	if errors.As(err, &pe) {
		return &usageError{msg: pe.Error(), hints: []string{"see 'okv policy set --help' for the settings"}}
	}
	if err != nil {
		return err
	}
	keys := make([]string, len(args))
	for i, s := range args {
		keys[i], _, _ = strings.Cut(s, "=")
	}
	if slices.Contains(keys, "upstream") {
		// Pin it inside the encrypted profile: only then is it used (see
		// App.upstream), so an edit of config.toml cannot redirect keys.
		up := v.Config.Policy(profile).Upstream
		ids, err := a.unlock(v)
		if err != nil {
			return err
		}
		if err := v.Update(profile, ids, func(d *vault.Document) error { d.Upstream = up; return nil }); err != nil {
			return err
		}
	}
	a.audit(v, op, profile, nil, strings.Join(keys, ","))
	fmt.Fprintf(a.Stderr, "okv: updated the policy of profile %s\n", profile)
	return nil
}
