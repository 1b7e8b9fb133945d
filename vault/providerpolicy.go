package vault

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/openai"
)

// ProviderPolicy is one provider's part of a profile's policy, set as
// NAME.KEY=VALUE (okv policy set anthropic.models=claude-3-5-haiku*):
// where its key may go and the proxy limits for it. The unprefixed keys
// are OpenAI's (openai.rpm is rpm). A name okv does not ship is an
// OpenAI-compatible provider the user defines with upstream (its
// OpenAI-compatible base URL), key_var and base_url_var. Pinned in the
// profile like the rest of the policy.
type ProviderPolicy struct {
	Upstream   string `toml:"upstream,omitempty" json:"upstream,omitempty"`
	KeyVar     string `toml:"key_var,omitempty" json:"key_var,omitempty"`
	BaseURLVar string `toml:"base_url_var,omitempty" json:"base_url_var,omitempty"`
	limits.Limits
}

// providerKeys are the settings of one provider, in display order.
var providerKeys = []string{"upstream", "key_var", "base_url_var", "rpm", "tpm", "models", "endpoints", "max_body", "daily_tokens", "daily_usd", "monthly_usd", "warn_usd", "max_output_tokens"}

func (pp ProviderPolicy) zero() bool {
	return pp.Upstream == "" && pp.KeyVar == "" && pp.BaseURLVar == "" && !pp.Limits.Any()
}

func cloneProviders(m map[string]*ProviderPolicy) map[string]*ProviderPolicy {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*ProviderPolicy, len(m))
	for k, v := range m {
		c := *v
		c.Models, c.Endpoints = slices.Clone(v.Models), slices.Clone(v.Endpoints)
		out[k] = &c
	}
	return out
}

// providerGet is a provider setting as okv policy show prints it.
func providerGet(pp ProviderPolicy, key string) string {
	switch key {
	case "upstream":
		return pp.Upstream
	case "key_var":
		return pp.KeyVar
	case "base_url_var":
		return pp.BaseURLVar
	}
	pk, _ := findPolicyKey(key)
	return pk.get(&Policy{Limits: pp.Limits})
}

// setProvider applies NAME.KEY=v to next.
func setProvider(next *Policy, name, key, v string) error {
	if !limits.ProviderName(name) {
		return &PolicyError{Key: name + "." + key, Reason: "a provider name is lowercase letters, digits, - and _, like anthropic"}
	}
	if next.Providers == nil {
		next.Providers = map[string]*ProviderPolicy{}
	}
	pp := next.Providers[name]
	if pp == nil {
		pp = &ProviderPolicy{}
	}
	c := *pp
	full := name + "." + key
	switch key {
	case "upstream":
		if v != "" {
			if _, err := openai.ParseBaseURL(v); err != nil {
				return &PolicyError{Key: full, Reason: err.Error()}
			}
		}
		c.Upstream = strings.TrimRight(v, "/")
	case "key_var", "base_url_var":
		if v != "" && !limits.VarName(v) {
			return &PolicyError{Key: full, Reason: "want a variable name like CORP_API_KEY"}
		}
		if key == "key_var" {
			c.KeyVar = v
		} else {
			c.BaseURLVar = v
		}
	case "rpm", "tpm", "models", "endpoints", "max_body", "daily_tokens", "daily_usd", "monthly_usd", "warn_usd", "max_output_tokens":
		pk, _ := findPolicyKey(key)
		tmp := Policy{Limits: c.Limits}
		set := func() error { return pk.set(&tmp, v) }
		if v == "" {
			set = func() error { return tmp.Unset([]string{key}) }
		}
		if err := set(); err != nil {
			return &PolicyError{Key: full, Reason: err.Error()}
		}
		c.Limits = tmp.Limits
	default:
		return &PolicyError{Key: full, Reason: "unknown provider setting (known: " + strings.Join(providerKeys, ", ") + ")"}
	}
	if c.zero() {
		delete(next.Providers, name)
	} else {
		next.Providers[name] = &c
	}
	return nil
}

// providerValues are the provider settings that are set, as NAME.KEY.
func providerValues(m map[string]*ProviderPolicy) [][2]string {
	var out [][2]string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		for _, k := range providerKeys {
			var zero ProviderPolicy
			if v := providerGet(*m[name], k); v != providerGet(zero, k) {
				out = append(out, [2]string{name + "." + k, v})
			}
		}
	}
	return out
}

// diffProviders lists the provider settings where config differs from
// pinned. Any other upstream, key or base-URL variable is weaker.
func diffProviders(config, pinned map[string]ProviderPolicy) []PolicyDiff {
	names := map[string]bool{}
	for n := range config {
		names[n] = true
	}
	for n := range pinned {
		names[n] = true
	}
	var out []PolicyDiff
	sorted := slices.Collect(maps.Keys(names))
	sort.Strings(sorted)
	for _, n := range sorted {
		c, p := config[n], pinned[n]
		for _, k := range providerKeys {
			cv, pv := providerGet(c, k), providerGet(p, k)
			if cv == pv {
				continue
			}
			weak := true
			if k != "upstream" && k != "key_var" && k != "base_url_var" {
				weak = weaker(k, Pin{Limits: c.Limits}, Pin{Limits: p.Limits})
			}
			out = append(out, PolicyDiff{Key: n + "." + k, Config: cv, Pinned: pv, Weaker: weak})
		}
	}
	return out
}

func pinProviders(m map[string]*ProviderPolicy) map[string]ProviderPolicy {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]ProviderPolicy, len(m))
	for k, v := range cloneProviders(m) {
		out[k] = *v
	}
	return out
}

func unpinProviders(m map[string]ProviderPolicy) map[string]*ProviderPolicy {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*ProviderPolicy, len(m))
	for k, v := range m {
		c := v
		out[k] = &c
	}
	return cloneProviders(out)
}

// ProviderLimits is the policy of provider name: OpenAI's is the
// unprefixed one.
//
// The dollar budgets (daily_usd, monthly_usd, warn_usd) count the
// profile's spend, all providers together, so the unprefixed ones hold
// for every provider: a provider gets the lower of its own and the
// profile's.
func (p Policy) ProviderPolicy(name string) ProviderPolicy {
	if name == "openai" {
		return ProviderPolicy{Upstream: p.Upstream, Limits: p.Limits}
	}
	var out ProviderPolicy
	if pp := p.Providers[name]; pp != nil {
		out = *pp
	}
	lower := func(own, profile float64) float64 {
		if own == 0 || profile > 0 && profile < own {
			return profile
		}
		return own
	}
	out.DailyUSD = lower(out.DailyUSD, p.DailyUSD)
	out.MonthlyUSD = lower(out.MonthlyUSD, p.MonthlyUSD)
	out.WarnUSD = lower(out.WarnUSD, p.WarnUSD)
	return out
}

// ProviderUpstream is where provider name's key may be sent: the pinned
// NAME.upstream, else OKV_<NAME>_BASE_URL from the environment, else def
// (the provider's own API). Checked as the OpenAI upstream is (https, or
// http to loopback only).
func ProviderUpstream(pinned, name, def string, getenv func(string) string) (string, error) {
	u := pinned
	if u == "" && getenv != nil {
		u = getenv("OKV_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_BASE_URL")
	}
	if u == "" {
		u = def
	}
	if u == "" {
		return "", fmt.Errorf("provider %s has no upstream: set it with 'okv policy set %s.upstream=https://…'", name, name)
	}
	parsed, err := openai.ParseBaseURL(u)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(parsed.String(), "/"), nil
}
