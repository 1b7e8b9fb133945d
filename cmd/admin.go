package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/vault"
)

// The OpenAI Admin API is used with an admin key (sk-admin-…) kept as
// OPENAI_ADMIN_KEY in a profile of its own, "admin" unless
// --admin-profile names another.
const (
	adminSecret         = "OPENAI_ADMIN_KEY"
	defaultAdminProfile = "admin"
)

// adminOptions says where the admin key lives and where the Admin API is.
type adminOptions struct {
	profile string // "" = defaultAdminProfile
	baseURL string // "" = OKV_OPENAI_ADMIN_BASE_URL, else the OpenAI API
}

// addAdminFlags adds --admin-profile and --admin-base-url to c.
func addAdminFlags(c *cobra.Command, o *adminOptions) {
	c.Flags().StringVar(&o.profile, "admin-profile", defaultAdminProfile, "profile holding "+adminSecret+" for the OpenAI Admin API")
	c.Flags().StringVar(&o.baseURL, "admin-base-url", "", "Admin API address (default: OKV_OPENAI_ADMIN_BASE_URL, else "+openai.DefaultBaseURL+")")
}

func (o adminOptions) withDefaults(getenv func(string) string) adminOptions {
	if o.profile == "" {
		o.profile = defaultAdminProfile
	}
	if o.baseURL == "" {
		o.baseURL = getenv("OKV_OPENAI_ADMIN_BASE_URL")
	}
	if o.baseURL == "" {
		o.baseURL = openai.DefaultBaseURL
	}
	return o
}

// adminClient loads the admin key from its profile (confirming a
// protected profile, recording the use in the audit log as op "admin"
// for what) and returns a client for the Admin API.
func (a *App) adminClient(v *vault.Vault, ids []ageIdentity, o adminOptions, what string) (*openai.Client, error) {
	o = o.withDefaults(a.Getenv)
	if _, err := openai.ParseBaseURL(o.baseURL); err != nil {
		return nil, err
	}
	if err := vault.ValidateProfileName(o.profile); err != nil {
		return nil, err
	}
	setHint := fmt.Sprintf("create an admin key at https://platform.openai.com/settings/organization/admin-keys and store it with 'okv set %s -p %s'", adminSecret, o.profile)
	if !v.HasProfile(o.profile) {
		return nil, withHints(fmt.Errorf("the Admin API needs %s, kept in the profile %s, which does not exist", adminSecret, o.profile),
			fmt.Sprintf("create the profile with 'okv profile create %s'", o.profile), setHint,
			"or name the profile that holds it with --admin-profile NAME")
	}
	// The admin profile is used like any other: pins checked, a protected
	// one confirmed under its pinned policy.
	u, err := a.env().UseProfile(v, vault.Resolution{Name: o.profile, Source: "--admin-profile"},
		vault.UseRequest{Purpose: what, Unlocker: a.unlocker(), Confirm: a.confirm, Yes: a.yes})
	if err != nil {
		return nil, err
	}
	s, ok := u.Doc.Secrets[adminSecret]
	if !ok {
		return nil, withHints(fmt.Errorf("profile %s has no %s for the Admin API", o.profile, adminSecret), setHint)
	}
	a.audit(v, "admin", o.profile, []string{adminSecret}, what)
	return &openai.Client{BaseURL: o.baseURL, Key: s.Value}, nil
}

// adminCallError: an Admin API call failed. Step says what okv was doing.
type adminCallError struct {
	Step         string // "creating a service account in project proj_abc"
	AdminProfile string
	Err          error
}

func (e *adminCallError) Error() string { return e.Step + " failed: " + e.Err.Error() }
func (e *adminCallError) Unwrap() error { return e.Err }

func adminHints(e *adminCallError) []string {
	var ne *openai.NetworkError
	switch {
	case errors.Is(e.Err, openai.ErrUnauthorized):
		return []string{fmt.Sprintf("%s in profile %s is wrong, revoked or deleted: create a new one at https://platform.openai.com/settings/organization/admin-keys and store it with 'okv set %s -p %s'", adminSecret, e.AdminProfile, adminSecret, e.AdminProfile)}
	case errors.Is(e.Err, openai.ErrForbidden):
		return []string{fmt.Sprintf("%s must be an admin key (sk-admin-…) made by an organization owner: a project key cannot use the Admin API", adminSecret)}
	case errors.Is(e.Err, openai.ErrNotFound):
		return []string{"check the project id (proj_…) under https://platform.openai.com/settings/organization/projects"}
	case errors.Is(e.Err, openai.ErrRateLimited), errors.Is(e.Err, openai.ErrServer):
		return []string{"try again later (https://status.openai.com)"}
	case errors.As(e.Err, &ne):
		return []string{"check the network connection and any HTTPS_PROXY setting",
			"the Admin API address comes from --admin-base-url, else OKV_OPENAI_ADMIN_BASE_URL, else " + openai.DefaultBaseURL}
	}
	return nil
}

// deleteServiceAccountHint tells how to delete a service account by hand,
// without putting the admin key in any command line.
func deleteServiceAccountHint(o adminOptions, project, id string) string {
	return fmt.Sprintf("delete it in the dashboard (https://platform.openai.com/settings/organization/projects, project %s, Service accounts) or with: "+
		`okv run -p %s -- sh -c 'printf "Authorization: Bearer %%s" "$%s" | curl -sS -H @- -X DELETE %s/v1/organization/projects/%s/service_accounts/%s'`,
		project, o.profile, adminSecret, o.baseURL, project, id)
}
