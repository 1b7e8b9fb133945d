package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/vault"
)

// verifyTimeout bounds one upstream check.
const verifyTimeout = 20 * time.Second

func (a *App) newVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [NAME]",
		Short: "Check that a stored key works upstream (GET /v1/models)",
		Long: `Check that a stored key works: okv sends it to the profile's upstream
(the policy's 'upstream', else OKV_OPENAI_BASE_URL, else https://api.openai.com)
with GET /v1/models, the cheapest authenticated call. NAME defaults to
OPENAI_API_KEY. Exits 1 when the key is rejected or cannot be checked.

Only OpenAI keys are checked: a secret named like one (OPENAI_API_KEY,
OPENAI_ADMIN_KEY, …) or shaped like one (sk-…T3BlbkFJ…). Any other secret, and
a value that looks like another provider's key (sk-ant-…), is refused before
anything is sent (exit 2).`,
		Example: `  okv verify -p prod
  okv verify OPENAI_API_KEY -p dev`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runVerify(secretArg(args))
		},
	}
}

func (a *App) runVerify(name string) error {
	o, err := a.openSecret(name, "okv verify "+name)
	if err != nil {
		return err
	}
	v, profile, s := o.v, o.profile, o.s
	if err := checkOpenAIKey(name, []byte(s.Value), false); err != nil {
		return err
	}
	upstream, err := o.Upstream()
	if err != nil {
		return err
	}
	a.audit(v, "verify", profile, []string{name}, "")
	if err := a.checkKey(context.Background(), upstream, []byte(s.Value)); err != nil {
		return &keyCheckError{Name: name, Profile: profile, Err: err}
	}
	fmt.Fprintf(a.Stdout, "ok  %s (profile %s) works: %s accepted it\n", name, profile, upstream)
	return nil
}

// upstream is where a profile's keys may be sent, by vault.Upstream's one
// rule: the upstream pinned in the encrypted profile (config.toml must
// agree with it), else OKV_OPENAI_BASE_URL, else the OpenAI API. doc is
// the profile's document when the caller has it loaded, else nil.
func (a *App) upstream(v *vault.Vault, profile string, doc *vault.Document) (string, error) {
	if doc == nil {
		ids, err := a.unlock(v)
		if err != nil {
			return "", err
		}
		if doc, err = v.Load(profile, ids); err != nil {
			return "", err
		}
	}
	if err := v.CheckPolicy(doc); err != nil {
		return "", err
	}
	return vault.Upstream(v.EffectivePolicy(doc).Upstream, a.Getenv)
}

// checkKey verifies key against upstream under verifyTimeout.
func (a *App) checkKey(ctx context.Context, upstream string, key []byte) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	return openai.Verify(ctx, upstream, string(key))
}

// verifyNew checks a new value before it is stored (set/rotate --verify).
func (a *App) verifyNew(v *vault.Vault, profile, name string, value []byte) error {
	if err := checkOpenAIKey(name, value, true); err != nil {
		return err
	}
	upstream, err := a.upstream(v, profile, nil)
	if err != nil {
		return err
	}
	if err := a.checkKey(context.Background(), upstream, value); err != nil {
		return &keyCheckError{Name: name, Profile: profile, New: true, Err: err}
	}
	return nil
}

// otherProviders are key prefixes of providers okv cannot check yet: such
// a value is never sent to OpenAI, whatever its name.
var otherProviders = []struct{ prefix, name string }{
	{"sk-ant-", "an Anthropic key"},
	{"AIza", "a Google (Gemini) API key"},
	{"gsk_", "a Groq key"},
	{"xai-", "an xAI key"},
}

// checkOpenAIKey refuses, before anything is sent, a secret that is not an
// OpenAI key: only OpenAI keys can be checked until okv supports other
// providers. An OpenAI key is named like one (OPENAI in the name, ending
// in KEY: OPENAI_API_KEY, OPENAI_ADMIN_KEY) or has OpenAI's sk-…T3BlbkFJ…
// shape, and does not start like another provider's key. The refusal is
// a usage error (exit 2); isNew: the value is a new one, for set or
// rotate --verify (and was not stored).
func checkOpenAIKey(name string, value []byte, isNew bool) error {
	why := notOpenAIKey(name, value)
	if why == "" {
		return nil
	}
	msg := fmt.Sprintf("okv can check OpenAI keys only, and %s is not one: %s; nothing was sent", name, why)
	last := "other providers are not supported yet"
	if isNew {
		msg = fmt.Sprintf("the new value of %s was not stored: okv can check OpenAI keys only, and it is not one: %s; nothing was sent", name, why)
		last += ": store the key without --verify"
	}
	return &usageError{msg: msg, hints: []string{
		"--verify and okv verify check a secret named like OPENAI_API_KEY or OPENAI_ADMIN_KEY, or shaped like an OpenAI key (sk-…T3BlbkFJ…)",
		last,
	}}
}

// notOpenAIKey says why name and value are not an OpenAI key, or "".
func notOpenAIKey(name string, value []byte) string {
	for _, p := range otherProviders {
		if strings.HasPrefix(string(value), p.prefix) {
			return "its value looks like " + p.name + " (" + p.prefix + "…)"
		}
	}
	if upper := strings.ToUpper(name); scan.OpenAIKeyRule(value) != "" || strings.Contains(upper, "OPENAI") && strings.HasSuffix(upper, "KEY") {
		return ""
	}
	return "neither its name nor its value is an OpenAI key's"
}

// keyCheckError: a key failed its upstream check. New means it was a new
// value (set/rotate --verify), which was then not stored.
type keyCheckError struct {
	Name, Profile string
	New           bool
	Auto          bool // the key came from the Admin API, not from the user
	Err           error
}

func (e *keyCheckError) Error() string {
	if e.New {
		return fmt.Sprintf("the new value of %s was not stored: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("%s in profile %s did not pass the check: %v", e.Name, e.Profile, e.Err)
}
func (e *keyCheckError) Unwrap() error { return e.Err }

// isRotationError reports the errors explainRotation knows.
func isRotationError(err error) bool {
	var (
		ae  *openai.APIError
		ne  *openai.NetworkError
		be  *openai.BaseURLError
		kce *keyCheckError
		ace *adminCallError
	)
	return errors.As(err, &ae) || errors.As(err, &ne) || errors.As(err, &be) || errors.As(err, &kce) ||
		errors.As(err, &ace) || errors.Is(err, vault.ErrSameValue) || errors.Is(err, vault.ErrNoHistory)
}

// explainRotation gives the hints for upstream checks, Admin API calls,
// rotation and rollback errors.
func explainRotation(err error) (string, []string, int) {
	msg := err.Error()
	var (
		kce *keyCheckError
		ace *adminCallError
		ae  *openai.APIError
		ne  *openai.NetworkError
		be  *openai.BaseURLError
	)
	switch {
	case errors.Is(err, vault.ErrSameValue):
		return msg, []string{"nothing was changed: paste the new key you created in the provider's dashboard"}, exitError
	case errors.Is(err, vault.ErrNoHistory):
		return msg, []string{"there is no retired value to go back to; see 'okv history'"}, exitError
	case errors.As(err, &be):
		return msg, []string{"fix the profile's 'upstream' policy, OKV_OPENAI_BASE_URL, or --admin-base-url / OKV_OPENAI_ADMIN_BASE_URL"}, exitError
	case errors.As(err, &ace):
		return msg, adminHints(ace), exitError
	}
	errors.As(err, &kce)
	orStore := ""
	if kce != nil && kce.New && !kce.Auto {
		orStore = ", or store it without --verify"
	}
	var hints []string
	switch {
	case kce != nil && kce.Auto && errors.Is(err, openai.ErrUnauthorized):
		hints = append(hints, "OpenAI did not accept the service account's new key in time: try the rotation again in a minute")
	case errors.Is(err, openai.ErrUnauthorized):
		hints = append(hints, "the key is wrong, revoked or deleted: check that you copied all of it (keys are listed at https://platform.openai.com/api-keys)")
	case errors.Is(err, openai.ErrForbidden):
		hints = append(hints, "a restricted key needs the 'Models: Read' permission for this check"+orStore,
			"otherwise the key's project, organization, region or IP allowlist refuses the request")
	case errors.Is(err, openai.ErrQuotaExceeded):
		hints = append(hints, "the key itself works: add credit or raise the budget at https://platform.openai.com/settings/organization/billing"+orStore)
	case errors.Is(err, openai.ErrRateLimited):
		wait := "a moment"
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			wait = ae.RetryAfter.String()
		}
		hints = append(hints, "the key itself works but is rate-limited: try again in "+wait+orStore)
	case errors.Is(err, openai.ErrServer):
		hints = append(hints, "the API had a problem on its side: try again later (https://status.openai.com)")
	case errors.As(err, &ne):
		hints = append(hints, "check the network connection and any HTTPS_PROXY setting",
			"the address comes from the profile's 'upstream' policy, else OKV_OPENAI_BASE_URL, else https://api.openai.com")
	}
	return msg, hints, exitError
}
