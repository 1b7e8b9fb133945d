package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/vault"
)

// verifyTimeout bounds one upstream check.
const verifyTimeout = 20 * time.Second

func (a *App) newVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [NAME]",
		Short: "Check that a stored key works with its provider (lists models)",
		Long: `Check that a stored key works: okv finds which provider it is for and sends
it to that provider's upstream with its cheapest authenticated call, listing
models (OpenAI, Groq, Mistral, DeepSeek, xAI, OpenRouter, Together:
GET …/models; Anthropic: GET /v1/models; Gemini: GET /v1beta/models; Azure
OpenAI: GET /openai/models on the profile's AZURE_OPENAI_ENDPOINT). The
upstream is the policy's ('upstream' for OpenAI, NAME.upstream for the
others), else OKV_OPENAI_BASE_URL / OKV_NAME_BASE_URL, else the provider's
API. NAME defaults to OPENAI_API_KEY. Exits 1 when the key is rejected or
cannot be checked.

The provider is known by the secret's name (the variable its SDK reads:
OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY,
AZURE_OPENAI_API_KEY, GROQ_API_KEY, …, or the key_var of a provider the
policy defines) or by its value's shape (sk-…T3BlbkFJ…, sk-ant-…, AIza…,
gsk_…, xai-…, sk-or-…). A secret okv cannot place, or whose name and shape
disagree, is refused before anything is sent (exit 2).`,
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
	pv, err := placeKey(o.Policy, name, []byte(s.Value), false)
	if err != nil {
		return err
	}
	upstream, _, err := a.keyPolicy(o.Policy, o.doc, profile, pv)
	if err != nil {
		return err
	}
	a.audit(v, "verify", profile, []string{name}, "")
	if err := a.checkKey(context.Background(), pv, upstream, []byte(s.Value)); err != nil {
		return &keyCheckError{Name: name, Profile: profile, Provider: pv.Name, Err: err}
	}
	fmt.Fprintf(a.Stdout, "ok  %s (profile %s) works: %s accepted it\n", name, profile, upstream)
	return nil
}

// upstream is where a profile's OpenAI keys may be sent, by
// vault.Upstream's one rule: the upstream pinned in the encrypted profile
// (config.toml must agree with it), else OKV_OPENAI_BASE_URL, else the
// OpenAI API. doc is the profile's document when the caller has it
// loaded, else nil.
func (a *App) upstream(v *vault.Vault, profile string, doc *vault.Document) (string, error) {
	pol, _, err := a.effectivePolicy(v, profile, doc)
	if err != nil {
		return "", err
	}
	return vault.Upstream(pol.Upstream, a.Getenv)
}

// effectivePolicy loads doc when nil and returns the policy it is used
// under, refusing a config.toml that disagrees with the pin.
func (a *App) effectivePolicy(v *vault.Vault, profile string, doc *vault.Document) (vault.Policy, *vault.Document, error) {
	if doc == nil {
		ids, err := a.unlock(v)
		if err != nil {
			return vault.Policy{}, nil, err
		}
		if doc, err = v.Load(profile, ids); err != nil {
			return vault.Policy{}, nil, err
		}
	}
	if err := v.CheckPolicy(doc); err != nil {
		return vault.Policy{}, nil, err
	}
	return v.EffectivePolicy(doc), doc, nil
}

// checkKey verifies key against pv's upstream under verifyTimeout.
func (a *App) checkKey(ctx context.Context, pv *proxy.Provider, upstream string, key []byte) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	return pv.Verify(ctx, upstream, string(key), nil)
}

// verifyNew checks a new value before it is stored (set/rotate --verify).
func (a *App) verifyNew(v *vault.Vault, profile, name string, value []byte) error {
	pol, doc, err := a.effectivePolicy(v, profile, nil)
	if err != nil {
		return err
	}
	pv, err := placeKey(pol, name, value, true)
	if err != nil {
		return err
	}
	upstream, _, err := a.keyPolicy(pol, doc, profile, pv)
	if err != nil {
		return err
	}
	if err := a.checkKey(context.Background(), pv, upstream, value); err != nil {
		return &keyCheckError{Name: name, Profile: profile, New: true, Provider: pv.Name, Err: err}
	}
	return nil
}

// keyShapes are the key prefixes that say which provider a value is for
// (scan's rules find the same shapes in files).
var keyShapes = []struct{ prefix, provider, what string }{
	{"sk-ant-", "anthropic", "an Anthropic key"},
	{"AIza", "gemini", "a Google API key"},
	{"gsk_", "groq", "a Groq key"},
	{"xai-", "xai", "an xAI key"},
	{"sk-or-", "openrouter", "an OpenRouter key"},
	{"hf_", "", "a Hugging Face token"},
}

// providerOf says which provider name and value belong to, and how okv
// knows, or why it cannot tell. By name: a provider's key variable (or
// the key_var of a provider the policy defines; GOOGLE_API_KEY is
// Gemini's; a name with OPENAI ending in KEY is OpenAI's). By shape: the
// prefixes above and OpenAI's sk-…T3BlbkFJ…. A name and a shape that
// disagree cannot be placed, except that a policy's NAME.key_var (pinned
// in the profile: the user's per-secret choice) wins over any shape.
func providerOf(pol vault.Policy, name string, value []byte) (*proxy.Provider, string) {
	all, err := knownProviders(pol)
	if err != nil {
		return nil, err.Error()
	}
	byName := func(n string) *proxy.Provider {
		for _, pv := range all {
			if pv.KeyVar == n {
				return pv
			}
		}
		upper := strings.ToUpper(n)
		switch {
		case n == "GOOGLE_API_KEY":
			return proxy.GeminiGoogleKey
		case strings.Contains(upper, "OPENAI") && strings.HasSuffix(upper, "KEY") && !strings.Contains(upper, "AZURE"):
			return proxy.OpenAI
		}
		return nil
	}
	named := byName(name)
	if named != nil && pol.Providers[named.Name] != nil && pol.Providers[named.Name].KeyVar == name {
		// The policy says so (NAME.key_var, pinned): that wins over shape.
		return named, ""
	}
	var shaped *proxy.Provider
	shapeWhat := ""
	for _, k := range keyShapes {
		if strings.HasPrefix(string(value), k.prefix) {
			shapeWhat = k.what + " (" + k.prefix + "…)"
			for _, pv := range all {
				if pv.Name == k.provider {
					shaped = pv
				}
			}
			if shaped == nil {
				return nil, "its value looks like " + shapeWhat + ", a provider okv cannot check"
			}
			break
		}
	}
	if shaped == nil && scan.OpenAIKeyRule(value) != "" {
		shaped, shapeWhat = proxy.OpenAI, "an OpenAI key (sk-…T3BlbkFJ…)"
	}
	switch {
	case named != nil && shaped != nil && named.Name != shaped.Name:
		return nil, fmt.Sprintf("its name is %s's but its value looks like %s", named.Name, shapeWhat)
	case named != nil:
		return named, ""
	case shaped != nil:
		return shaped, ""
	}
	return nil, "neither its name nor its value says which provider it is for"
}

// placeKey is the provider a secret is checked with, or a usage error
// (exit 2) when okv cannot place it: nothing is sent anywhere then.
// isNew: the value is a new one, for set or rotate --verify (and was not
// stored).
func placeKey(pol vault.Policy, name string, value []byte, isNew bool) (*proxy.Provider, error) {
	pv, why := providerOf(pol, name, value)
	if pv != nil {
		return pv, nil
	}
	msg := fmt.Sprintf("okv cannot tell which provider %s is for: %s; nothing was sent", name, why)
	last := "or define the provider: okv policy set NAME.upstream=https://… NAME.key_var=" + name
	if isNew {
		msg = fmt.Sprintf("the new value of %s was not stored: okv cannot tell which provider it is for: %s; nothing was sent", name, why)
		last = "or store the key without --verify"
	}
	return nil, &usageError{msg: msg, hints: []string{
		"okv checks a secret named as its provider's SDK reads it (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, AZURE_OPENAI_API_KEY, GROQ_API_KEY, …) or shaped like its key (sk-…T3BlbkFJ…, sk-ant-…, AIza…)",
		last,
	}}
}

// keyCheckError: a key failed its upstream check. New means it was a new
// value (set/rotate --verify), which was then not stored.
type keyCheckError struct {
	Name, Profile string
	Provider      string // the provider that was asked ("openai", "anthropic", …)
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
	case kce != nil && kce.Provider != "" && kce.Provider != "openai" && errors.Is(err, openai.ErrUnauthorized):
		hints = append(hints, "the key is wrong, revoked or deleted: check that you copied all of it from "+kce.Provider+"'s console")
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
			"the address comes from the profile's 'upstream' policy (NAME.upstream for other providers), else OKV_OPENAI_BASE_URL (OKV_NAME_BASE_URL), else the provider's API")
	}
	return msg, hints, exitError
}
