package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/okvault/okv/scan"

	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

// knownProviders are the providers okv ships and those the profile's
// policy defines (NAME.upstream, NAME.key_var, NAME.base_url_var: an
// OpenAI-compatible API; pinned in the profile like every upstream).
func knownProviders(pol vault.Policy) ([]*proxy.Provider, error) {
	all := proxy.Builtin()
	builtin := map[string]bool{}
	keyVars := map[string]string{}
	for _, pv := range all {
		builtin[pv.Name] = true
		keyVars[pv.KeyVar] = pv.Name
		for _, s := range pv.Secrets() {
			if _, ok := keyVars[s]; !ok {
				keyVars[s] = pv.Name
			}
		}
	}
	keyVars["GOOGLE_API_KEY"] = "gemini"
	for _, name := range sortedKeys(pol.Providers) {
		pp := pol.Providers[name]
		if builtin[name] {
			if pp.KeyVar != "" || pp.BaseURLVar != "" {
				return nil, withHints(fmt.Errorf("provider %s is okv's own: its key and base-URL variables cannot be changed", name),
					fmt.Sprintf("okv policy unset %s.key_var %s.base_url_var", name, name))
			}
			continue
		}
		if pp.KeyVar == "" || pp.Upstream == "" {
			if pp.KeyVar == "" && pp.Upstream == "" {
				continue // limits only, for a provider okv does not know: unused
			}
			return nil, withHints(fmt.Errorf("provider %s needs both %s.upstream and %s.key_var", name, name, name),
				fmt.Sprintf("okv policy set %s.upstream=https://api.example.com/v1 %s.key_var=%s_API_KEY", name, name, strings.ToUpper(name)))
		}
		if other, taken := keyVars[pp.KeyVar]; taken {
			return nil, fmt.Errorf("provider %s: %s is %s's variable", name, pp.KeyVar, other)
		}
		baseVar := pp.BaseURLVar
		if baseVar == "" {
			baseVar = strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_BASE_URL"
		}
		pv, err := proxy.Compatible(name, pp.Upstream, pp.KeyVar, baseVar, false)
		if err != nil {
			return nil, err
		}
		keyVars[pp.KeyVar] = name
		all = append(all, pv)
	}
	return all, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// heldProviders are the providers whose key the profile holds, OpenAI
// first. Gemini's key may be held as GEMINI_API_KEY or GOOGLE_API_KEY.
func (a *App) heldProviders(u *vault.Use) ([]*proxy.Provider, error) {
	all, err := knownProviders(u.Policy)
	if err != nil {
		return nil, err
	}
	var out []*proxy.Provider
	for _, pv := range all {
		if pv == proxy.Gemini {
			if _, ok := u.Doc.Secrets[pv.KeyVar]; !ok {
				pv = proxy.GeminiGoogleKey
			}
		}
		if _, ok := u.Doc.Secrets[pv.KeyVar]; ok {
			out = append(out, pv)
		}
	}
	return out, nil
}

// providerNamed is the provider called name.
func (a *App) providerNamed(u *vault.Use, name string) (*proxy.Provider, error) {
	all, err := knownProviders(u.Policy)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, pv := range all {
		if pv.Name == name {
			if pv == proxy.Gemini {
				if _, ok := u.Doc.Secrets[pv.KeyVar]; !ok {
					return proxy.GeminiGoogleKey, nil
				}
			}
			return pv, nil
		}
		names = append(names, pv.Name)
	}
	return nil, usagef("--provider %q: okv knows %s", name, strings.Join(names, ", "))
}

// providerPolicy is where pv's key may go and the limits that apply to
// it: OpenAI's are the profile's unprefixed upstream and limits, another
// provider's its NAME.upstream (else OKV_NAME_BASE_URL when nothing is
// pinned, else its API; Azure: the profile's AZURE_OPENAI_ENDPOINT) and
// NAME.rpm, NAME.models, ….
func (a *App) providerPolicy(u *vault.Use, pv *proxy.Provider) (string, vault.Policy, error) {
	return a.keyPolicy(u.Policy, u.Doc, u.Profile, pv)
}

// keyPolicy is providerPolicy from the profile's effective policy and
// document.
func (a *App) keyPolicy(pol vault.Policy, doc *vault.Document, profile string, pv *proxy.Provider) (string, vault.Policy, error) {
	if pv == proxy.OpenAI {
		up, err := vault.Upstream(pol.Upstream, a.Getenv)
		return up, pol, err
	}
	pp := pol.ProviderPolicy(pv.Name)
	def := pv.DefaultUpstream
	if pv.UpstreamSecret != "" {
		s, ok := doc.Secrets[pv.UpstreamSecret]
		if !ok && pp.Upstream == "" {
			return "", vault.Policy{}, withHints(fmt.Errorf("%s needs %s in profile %s", pv.KeyVar, pv.UpstreamSecret, profile),
				fmt.Sprintf("store the resource's endpoint (https://NAME.openai.azure.com) with 'okv set -p %s %s'", profile, pv.UpstreamSecret))
		}
		if ok {
			def = s.Value
		}
	}
	up, err := vault.ProviderUpstream(pp.Upstream, pv.Name, def, a.Getenv)
	return up, vault.Policy{Limits: pp.Limits}, err
}

// keyShaped: a value with a provider key's shape (scan's rules) or
// prefix (sk-ant-, AIza, …), which okv recognises as an LLM key.
func keyShaped(v string) bool {
	if scan.ProviderKeyRule([]byte(v)) != "" {
		return true
	}
	if len(v) < 20 {
		return false
	}
	for _, k := range keyShapes {
		if k.provider != "" && strings.HasPrefix(v, k.prefix) {
			return true
		}
	}
	return false
}

// withholdKeyShaped removes from a proxied child's variables every value
// still shaped like a provider key (one held under a name no proxy serves,
// MY_ROUTER=sk-or-v1-…), saying so: in proxy mode the child gets no real
// provider key. names (for the audit log) loses them too.
func (a *App) withholdKeyShaped(vars map[string]string, names []string) []string {
	var dropped []string
	vals := map[string]string{}
	for k, val := range vars {
		if keyShaped(val) {
			delete(vars, k)
			dropped = append(dropped, k)
			vals[k] = val
		}
	}
	slices.Sort(dropped)
	for _, k := range dropped {
		hint := "store it under its provider's variable (OPENROUTER_API_KEY, …) to proxy it"
		if pv, _ := providerOf(vault.Policy{}, "", []byte(vals[k])); pv != nil {
			hint = fmt.Sprintf("store it as %s to proxy it", pv.KeyVar)
		}
		fmt.Fprintf(a.Stderr, "okv: warning: %s looks like a provider key and is not given to the proxied command: %s\n", k, hint)
	}
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(dropped, n) })
}
