package cmd

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

func (a *App) newProfileCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "profile",
		Short: "List, create, remove, rename and copy profiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &usageError{msg: "okv profile needs a subcommand: ls, create, rm, rename or copy"}
		},
	}
	c.AddCommand(a.newProfileLsCmd(), a.newProfileCreateCmd(), a.newProfileRmCmd(), a.newProfileRenameCmd(), a.newProfileCopyCmd())
	return c
}

func (a *App) newProfileLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List profiles (no unlock needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := a.openVault()
			if err != nil {
				return err
			}
			names, err := v.ProfileNames()
			if err != nil {
				return err
			}
			// An untrusted .okv-profile marks nothing as current.
			current := ""
			if r, err := a.env().ResolveProfile(v); err == nil {
				current = r.Name
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			for _, n := range names {
				mark := " "
				if n == current {
					mark = "*"
				}
				var flags []string
				if n == v.Config.DefaultProfile {
					flags = append(flags, "default")
				}
				p := v.Config.Policy(n)
				if p.Confirm {
					flags = append(flags, "confirm")
				}
				if p.Proxy {
					flags = append(flags, "proxy")
				}
				if len(flags) == 0 {
					fmt.Fprintf(tw, "%s %s\n", mark, n)
					continue
				}
				fmt.Fprintf(tw, "%s %s\t%s\n", mark, n, strings.Join(flags, ","))
			}
			return tw.Flush()
		},
	}
}

func (a *App) newProfileCreateCmd() *cobra.Command {
	var protect bool
	c := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an empty profile",
		Long: `Create an empty profile. With --protect, every use of the profile asks for
confirmation on the terminal (refused without one unless --yes) and runs through
okv's proxy so the real key never enters a child.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := a.openVault()
			if err != nil {
				return err
			}
			var p *vault.Policy
			if protect {
				p = &vault.Policy{Confirm: true, Proxy: true}
			}
			if v.Config.IsProject() {
				// A project profile starts shared with its creator only;
				// members are added explicitly.
				me, err := a.myRecipient()
				if err != nil {
					return withHints(errors.New("a project profile is encrypted to its creator, and okv cannot find your identity"),
						"create your personal vault with 'okv init', or pass --identity FILE or OKV_IDENTITY_FILE")
				}
				if p == nil {
					p = &vault.Policy{}
				}
				p.Recipients = vault.RecipientList{me}
			}
			if err := v.CreateProfile(args[0], p); err != nil {
				return err
			}
			a.retrust(v)
			a.audit(v, "profile-create", args[0], nil, "")
			fmt.Fprintf(a.Stderr, "okv: created profile %s\n", args[0])
			if v.Config.IsProject() {
				fmt.Fprintf(a.Stderr, "okv: it is encrypted to you only: share it with 'okv recipient add -p %s RECIPIENT'\n", args[0])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&protect, "protect", false, "confirm every use and force proxy mode")
	return c
}

func (a *App) newProfileRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a profile and its secrets (asks first)",
		Long: `Remove the profile NAME and every secret in it. This cannot be undone. On a
terminal okv asks first; without one it refuses unless -y/--yes is given.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeProfileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := vault.ValidateProfileName(name); err != nil {
				return err
			}
			v, err := a.openVault()
			if err != nil {
				return err
			}
			// Refuse what would be refused anyway before asking.
			if !v.HasProfile(name) {
				return &vault.ProfileNotFoundError{Name: name}
			}
			if name == v.Config.DefaultProfile {
				return &vault.DefaultProfileError{Name: name}
			}
			// One question covers a protected profile's confirmation too.
			if err := a.confirmRemoval("remove profile "+name+" and all its secrets", "this cannot be undone"); err != nil {
				return err
			}
			if err := v.RemoveProfile(args[0]); err != nil {
				return err
			}
			a.retrust(v)
			a.audit(v, "profile-rm", args[0], nil, "")
			fmt.Fprintf(a.Stderr, "okv: removed profile %s\n", args[0])
			return nil
		},
	}
}

func (a *App) newProfileRenameCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "rename OLD NEW",
		Short:             "Rename a profile",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeProfileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.copyProfile(args[0], args[1], true)
		},
	}
}

func (a *App) newProfileCopyCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "copy FROM TO",
		Short:             "Copy a profile's secrets and policy into a new profile",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeProfileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.copyProfile(args[0], args[1], false)
		},
	}
}

func (a *App) copyProfile(from, to string, rename bool) error {
	for _, n := range []string{from, to} {
		if err := vault.ValidateProfileName(n); err != nil {
			return err
		}
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	if !v.HasProfile(from) {
		return &vault.ProfileNotFoundError{Name: from}
	}
	if v.HasProfile(to) {
		return &vault.ProfileExistsError{Name: to}
	}
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	if err := v.CopyProfile(from, to, ids, rename); err != nil {
		return err
	}
	op, verb := "profile-copy", "copied"
	if rename {
		op, verb = "profile-rename", "renamed"
	}
	a.retrust(v)
	a.audit(v, op, to, nil, from)
	fmt.Fprintf(a.Stderr, "okv: %s profile %s to %s\n", verb, from, to)
	return nil
}

func (a *App) newUseCmd() *cobra.Command {
	var here bool
	c := &cobra.Command{
		Use:   "use [--here] PROFILE",
		Short: "Make PROFILE the default, or pin it to this folder with --here",
		Long: `Make PROFILE the vault's default profile. With --here, write .okv-profile in
the current folder instead: okv uses that profile in this folder and below
(OKV_PROFILE and -p/--profile still win).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeProfileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := vault.ValidateProfileName(name); err != nil {
				return err
			}
			v, err := a.openVault()
			if err != nil {
				return err
			}
			if !v.HasProfile(name) {
				return &vault.ProfileNotFoundError{Name: name}
			}
			if here {
				cwd, err := a.Getwd()
				if err != nil {
					return err
				}
				if err := vault.WriteProfilePin(cwd, name); err != nil {
					return err
				}
				// The pin you write you trust.
				pin := filepath.Join(cwd, vault.ProfileFileName)
				if err := a.env().TrustStore().TrustPin(pin, v.Dir, name); err != nil && !errors.Is(err, vault.ErrNoTrustStore) {
					return err
				}
				fmt.Fprintf(a.Stderr, "okv: this folder now uses profile %s (%s)\n", name, vault.ProfileFileName)
				return nil
			}
			if err := v.UpdateConfig(func(c *vault.Config) error { c.DefaultProfile = name; return nil }); err != nil {
				return err
			}
			a.retrust(v)
			a.audit(v, "use", name, nil, "")
			fmt.Fprintf(a.Stderr, "okv: the default profile is now %s\n", name)
			return nil
		},
	}
	c.Flags().BoolVar(&here, "here", false, "pin the profile to the current folder (.okv-profile)")
	return c
}
