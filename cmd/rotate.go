package cmd

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

type rotateOptions struct {
	verify         bool
	serviceAccount bool
	project        string
	admin          adminOptions
}

func (a *App) newRotateCmd() *cobra.Command {
	var o rotateOptions
	c := &cobra.Command{
		Use:   "rotate [NAME]",
		Short: "Replace a key with a new one; the old one goes to history",
		Long: `Replace the value of NAME (default OPENAI_API_KEY) with a new one, read like
'okv set' reads it: from the terminal with echo off, or from stdin. The old value
is kept in the secret's history (the last 5), so 'okv rollback' can restore it.
A new value equal to the current one is refused. With --verify the new key is
checked upstream (GET /v1/models) first, and nothing is stored if it fails.

With --service-account okv rotates on its own through the OpenAI Admin API: it
creates a service account in the project (--project, remembered in the
profile's policy), checks its new key, stores it, then deletes the service
account okv created at the previous rotation. The admin key is OPENAI_ADMIN_KEY
in the profile named by --admin-profile (default admin). If a step fails, the
old key stays stored and working, and okv says what, if anything, to clean up.

The rotation period is the profile's 'max_age' policy (default 90d, set with
'okv policy'); 'okv status' shows which keys are due.`,
		Example: `  okv rotate -p prod
  pbpaste | okv rotate -p prod --verify
  okv rotate -p prod --service-account --project proj_abc`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := secretArg(args)
			if o.serviceAccount {
				return a.runRotateServiceAccount(name, o)
			}
			if cmd.Flags().Changed("project") {
				return &usageError{msg: "--project is used with --service-account only"}
			}
			return a.runRotate(name, o)
		},
	}
	c.Flags().BoolVar(&o.verify, "verify", false, "check the new key upstream (GET /v1/models) before storing it")
	c.Flags().BoolVar(&o.serviceAccount, "service-account", false, "create the new key as a project service account through the OpenAI Admin API")
	c.Flags().StringVar(&o.project, "project", "", "OpenAI project id (proj_…) for --service-account (default: the one used last)")
	addAdminFlags(c, &o.admin)
	return c
}

func (a *App) runRotate(name string, o rotateOptions) error {
	// Fail on a missing secret before asking for a value.
	sec, err := a.openSecret(name, "")
	var missing *vault.SecretNotFoundError
	if errors.As(err, &missing) {
		return withHints(err, fmt.Sprintf("store it first with 'okv set %s -p %s'", name, sec.profile))
	}
	if err != nil {
		return err
	}
	v, profile, ids, cur := sec.v, sec.profile, sec.ids, sec.s
	value, err := a.readValue(fmt.Sprintf("New value for %s (profile %s): ", name, profile))
	if err != nil {
		return err
	}
	defer wipe(value)
	if err := vault.ValidateValue(value); err != nil {
		return err
	}
	if cur.Value == string(value) {
		return sameValueError(name, profile)
	}
	if o.verify {
		if err := a.verifyNew(v, profile, name, value); err != nil {
			return err
		}
	}
	err = v.Update(profile, ids, func(d *vault.Document) error { return d.Rotate(name, value, a.Now()) })
	if errors.Is(err, vault.ErrSameValue) {
		return sameValueError(name, profile)
	}
	if err != nil {
		return err
	}
	a.audit(v, "rotate", profile, []string{name}, "")
	fmt.Fprintf(a.Stderr, "okv: rotated %s in %s; the previous value is kept in history ('okv rollback %s -p %s' restores it)\n", name, a.profileLabel(v, profile), name, profile)
	fmt.Fprintf(a.Stderr, "okv: revoke the previous key with the provider once nothing uses it anymore\n")
	return nil
}

func sameValueError(name, profile string) error {
	return fmt.Errorf("%s in profile %s: %w", name, profile, vault.ErrSameValue)
}

// newKeyRetryDelays: a freshly created key can take a moment to be
// accepted everywhere, so a 401 on its first check is retried.
var newKeyRetryDelays = []time.Duration{2 * time.Second, 4 * time.Second}

func (a *App) checkNewKey(ctx context.Context, upstream string, key []byte) error {
	err := a.checkKey(ctx, proxy.OpenAI, upstream, key)
	for _, d := range newKeyRetryDelays {
		if !errors.Is(err, openai.ErrUnauthorized) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		err = a.checkKey(ctx, proxy.OpenAI, upstream, key)
	}
	return err
}

// runRotateServiceAccount rotates name through the Admin API. Order
// matters: the new key is stored only once it works, and the previous
// service account is deleted only once the new key is stored, so a
// failure at any step leaves a working key in the vault.
func (a *App) runRotateServiceAccount(name string, o rotateOptions) error {
	if err := vault.ValidateSecretName(name); err != nil {
		return err
	}
	if o.verify {
		return &usageError{msg: "--verify is implied by --service-account: the new key is always checked before it is stored"}
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.profile(v)
	if err != nil {
		return err
	}
	if profile == o.admin.withDefaults(a.Getenv).profile {
		return usagef("profile %s holds the admin key: rotate another profile's key with --service-account", profile)
	}
	pol := v.Config.Policy(profile)
	project := o.project
	if project == "" {
		project = pol.Project
	}
	if project == "" {
		return &usageError{msg: "--service-account needs the OpenAI project to create the service account in",
			hints: []string{fmt.Sprintf("pass it once with --project proj_…: 'okv rotate -p %s --service-account --project proj_abc'; okv remembers it", profile)}}
	}
	if err := openai.ValidateID("project id", project); err != nil {
		return usagef("--project: %v", err)
	}
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	if _, err := v.Load(profile, ids); err != nil {
		return err
	}
	adm := o.admin.withDefaults(a.Getenv)
	client, err := a.adminClient(v, ids, adm, "okv rotate --service-account")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	unchanged := fmt.Sprintf("%s in profile %s is unchanged and still holds the old key", name, profile)
	adminErr := func(step string, err error) error {
		return &adminCallError{Step: step, AdminProfile: adm.profile, Err: err}
	}

	// 1. Create the service account and its key.
	saName := fmt.Sprintf("okv-%s-%s", profile, a.Now().UTC().Format("2006-01-02"))
	sa, err := client.CreateServiceAccount(ctx, project, saName)
	if err != nil {
		hints := []string{unchanged}
		if sa != nil {
			hints = append(hints, a.cleanupNewServiceAccount(ctx, client, adm, project, sa.ID))
		}
		return withHints(adminErr("creating a service account in project "+project, err), hints...)
	}
	key := []byte(string(sa.APIKey.Value))
	defer wipe(key)

	// 2. Check the new key where the profile's keys are used.
	upstream, err := a.upstream(v, profile, nil)
	if err != nil {
		return withHints(err, unchanged, a.cleanupNewServiceAccount(ctx, client, adm, project, sa.ID))
	}
	if err := a.checkNewKey(ctx, upstream, key); err != nil {
		return withHints(&keyCheckError{Name: name, Profile: profile, New: true, Auto: true, Err: err},
			unchanged, a.cleanupNewServiceAccount(ctx, client, adm, project, sa.ID))
	}

	// 3. Store it; the old value goes to history.
	err = v.Update(profile, ids, func(d *vault.Document) error {
		_, err := d.SetSecret(name, key, a.Now())
		return err
	})
	if err != nil {
		return withHints(fmt.Errorf("storing the new key failed: %w", err),
			unchanged, a.cleanupNewServiceAccount(ctx, client, adm, project, sa.ID))
	}
	a.audit(v, "rotate", profile, []string{name}, "service-account "+sa.ID)

	// 4. Remember the new service account (ids only) for the next rotation.
	var prevID, prevProject string
	err = v.UpdateConfig(func(c *vault.Config) error {
		p := c.Profiles[profile]
		if p == nil {
			p = &vault.Policy{}
			c.Profiles[profile] = p
		}
		prevID, prevProject = p.ServiceAccountID, p.Project
		p.Project, p.ServiceAccountID, p.APIKeyID = project, sa.ID, sa.APIKey.ID
		return nil
	})
	if err != nil {
		hints := []string{fmt.Sprintf("add under [profiles.%s] in config.toml: project = %q, service_account_id = %q, api_key_id = %q", profile, project, sa.ID, sa.APIKey.ID)}
		if pol.ServiceAccountID != "" {
			hints = append(hints, fmt.Sprintf("the previous service account %s was not deleted: %s", pol.ServiceAccountID,
				deleteServiceAccountHint(adm, orDefault(pol.Project, project), pol.ServiceAccountID)))
		}
		return withHints(fmt.Errorf("the new key of %s is stored and works, but config.toml could not record its service account %s: %w", name, sa.ID, err), hints...)
	}
	fmt.Fprintf(a.Stderr, "okv: rotated %s in %s to the new service account %s (project %s); the previous value is kept in history\n", name, a.profileLabel(v, profile), sa.ID, project)

	// 5. Delete the service account okv created at the previous rotation.
	if prevID == "" || prevID == sa.ID {
		fmt.Fprintf(a.Stderr, "okv: the previous key was not made by okv, so it still works: revoke it in the dashboard once nothing uses it anymore\n")
		return nil
	}
	prevProject = orDefault(prevProject, project)
	err = client.DeleteServiceAccount(ctx, prevProject, prevID)
	switch {
	case errors.Is(err, openai.ErrNotFound):
		fmt.Fprintf(a.Stderr, "okv: the previous service account %s was already deleted\n", prevID)
	case err != nil:
		return withHints(adminErr(fmt.Sprintf("the key was rotated, but deleting the previous service account %s", prevID), err),
			fmt.Sprintf("the new key is stored and works; the previous key keeps working until its service account is deleted: %s", deleteServiceAccountHint(adm, prevProject, prevID)))
	default:
		fmt.Fprintf(a.Stderr, "okv: deleted the previous service account %s and its key\n", prevID)
	}
	return nil
}

// cleanupNewServiceAccount deletes a service account okv created but did
// not store, and returns the hint saying how that went.
func (a *App) cleanupNewServiceAccount(ctx context.Context, client *openai.Client, adm adminOptions, project, id string) string {
	if id == "" {
		return "no service account was created"
	}
	if err := client.DeleteServiceAccount(ctx, project, id); err != nil && !errors.Is(err, openai.ErrNotFound) {
		return fmt.Sprintf("the new service account %s was created but not stored, and deleting it failed (%v): %s", id, err, deleteServiceAccountHint(adm, project, id))
	}
	return fmt.Sprintf("the new service account %s was deleted again: nothing to clean up", id)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *App) newHistoryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "history [NAME]",
		Short: "List a secret's retired values (redacted)",
		Long: `List the current and the retired values of NAME (default OPENAI_API_KEY),
newest first, redacted, with when each was set or retired. okv keeps the last 5
retired values; 'okv rollback' restores the newest one.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runHistory(secretArg(args))
		},
	}
}

func (a *App) runHistory(name string) error {
	o, err := a.openSecret(name, "")
	var nf *vault.SecretNotFoundError
	removed := errors.As(err, &nf) && o != nil && o.doc.Removed[name] != nil
	if removed {
		o.s, err = o.doc.Removed[name], nil
	}
	if err != nil {
		return err
	}
	s, profile := o.s, o.profile
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tVALUE\tRETIRED")
	if removed {
		fmt.Fprintf(tw, "removed\t%s\tremoved at %s\n", vault.Redact(s.Value), stamp(s.RemovedAt))
	} else {
		fmt.Fprintf(tw, "current\t%s\tin use since %s\n", vault.Redact(s.Value), stamp(s.RotatedAt))
	}
	for i := len(s.History) - 1; i >= 0; i-- { // stored oldest first
		r := s.History[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\n", len(s.History)-i, vault.Redact(r.Value), stamp(r.RetiredAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if removed {
		fmt.Fprintf(a.Stderr, "okv: %s was removed from profile %s; 'okv rollback %s -p %s' restores it\n", name, profile, name, profile)
	} else if len(s.History) == 0 {
		fmt.Fprintf(a.Stderr, "okv: %s in profile %s has no retired values\n", name, profile)
	}
	return nil
}

// stamp formats a time for tables: UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func (a *App) newRollbackCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback [NAME]",
		Short: "Restore a secret's previous value",
		Long: `Restore the newest retired value of NAME (default OPENAI_API_KEY). The value
it replaces is retired in its place, so a rollback can itself be rolled back.
A secret removed with 'okv rm' is restored as it was removed.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRollback(secretArg(args))
		},
	}
}

func (a *App) runRollback(name string) error {
	if err := vault.ValidateSecretName(name); err != nil {
		return err
	}
	v, profile, ids, err := a.openProfile("")
	if err != nil {
		return err
	}
	var restored string
	var wasRemoved bool
	err = v.Update(profile, ids, func(d *vault.Document) error {
		wasRemoved = d.Secrets[name] == nil && d.Removed[name] != nil
		if err := d.Rollback(name, a.Now()); err != nil {
			return err
		}
		restored = vault.Redact(d.Secrets[name].Value)
		return nil
	})
	if errors.Is(err, vault.ErrNoHistory) {
		return fmt.Errorf("%s in profile %s has %w", name, profile, vault.ErrNoHistory)
	}
	if err != nil {
		return err
	}
	a.audit(v, "rollback", profile, []string{name}, "")
	if wasRemoved {
		fmt.Fprintf(a.Stderr, "okv: restored %s in profile %s (%s), as it was before 'okv rm'\n", name, profile, restored)
		return nil
	}
	fmt.Fprintf(a.Stderr, "okv: rolled back %s in profile %s to its previous value (%s); the replaced value is kept in history\n", name, profile, restored)
	if v.Config.Policy(profile).ServiceAccountID != "" {
		fmt.Fprintf(a.Stderr, "okv: warning: profile %s rotates through service accounts, and okv deleted the previous one at rotation: check the restored key with 'okv verify %s -p %s'\n", profile, name, profile)
	}
	return nil
}
