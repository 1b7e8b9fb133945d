package vault

import (
	"fmt"
	"slices"
	"strings"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/openai"
)

// DefaultUpstream is where a profile's keys go when nothing else was
// chosen: the provider's API.
const DefaultUpstream = "https://api.openai.com"

// Pin is the part of a profile's policy that decides where its keys go and
// how: confirm, proxy, upstream and the proxy limits. It is kept inside the
// encrypted profile document, because config.toml is plaintext (and, in a
// project vault, anyone's commit): config.toml must agree with the pin, or
// the profile is not used.
type Pin struct {
	Confirm  bool   `json:"confirm,omitempty"`
	Proxy    bool   `json:"proxy,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	// The proxy limits, flattened into the same JSON object (rpm, tpm,
	// models, endpoints, max_body, daily_tokens, daily_usd, monthly_usd, warn_usd,
	// max_output_tokens).
	limits.Limits
	// Providers are the other providers' settings, by name.
	Providers map[string]ProviderPolicy `json:"providers,omitempty"`
}

// PinOf is the pinned part of p.
func PinOf(p Policy) Pin {
	return Pin{Confirm: p.Confirm, Proxy: p.Proxy, Upstream: p.Upstream, Limits: p.Limits, Providers: pinProviders(p.Providers)}
}

// withPin is p with its pinned settings replaced by pin's.
func (p Policy) withPin(pin Pin) Policy {
	p.Confirm, p.Proxy, p.Upstream = pin.Confirm, pin.Proxy, pin.Upstream
	p.Limits = pin.Limits
	p.Providers = unpinProviders(pin.Providers)
	return p
}

// pinnedKeys are the policy keys a Pin holds, in display order.
var pinnedKeys = []string{"confirm", "proxy", "upstream", "rpm", "tpm", "models", "endpoints", "max_body", "daily_tokens", "daily_usd", "monthly_usd", "warn_usd", "max_output_tokens"}

// PolicyDiff is one setting on which config.toml and the pin disagree.
type PolicyDiff struct {
	Key            string
	Config, Pinned string // as okv policy show prints them
	Weaker         bool   // config.toml's value protects less than the pin's
}

func (d PolicyDiff) String() string {
	return fmt.Sprintf("%s = %s (pinned: %s)", d.Key, d.Config, d.Pinned)
}

// diffPins lists the settings where config differs from pinned.
func diffPins(config, pinned Pin) []PolicyDiff {
	cp, pp := Policy{}.withPin(config), Policy{}.withPin(pinned)
	var out []PolicyDiff
	for _, k := range pinnedKeys {
		pk, _ := findPolicyKey(k)
		c, p := pk.get(&cp), pk.get(&pp)
		if c == p {
			continue
		}
		out = append(out, PolicyDiff{Key: k, Config: c, Pinned: p, Weaker: weaker(k, config, pinned)})
	}
	return append(out, diffProviders(config.Providers, pinned.Providers)...)
}

// looser reports whether limit c protects less than p, where 0 is no
// limit. Not cmp.Ordered: it takes strings too, which have no 0.
func looser[T int64 | float64](c, p T) bool { return p > 0 && (c == 0 || c > p) }

// weaker reports whether config's value of key protects less than pinned's.
func weaker(key string, config, pinned Pin) bool {
	wider := func(c, p []string) bool {
		if len(p) == 0 {
			return false
		}
		return len(c) == 0 || slices.ContainsFunc(c, func(s string) bool { return !slices.Contains(p, s) })
	}
	switch key {
	case "confirm":
		return pinned.Confirm && !config.Confirm
	case "proxy":
		return pinned.Proxy && !config.Proxy
	case "upstream":
		return true // another destination is never merely stronger
	case "rpm":
		return looser(int64(config.RPM), int64(pinned.RPM))
	case "tpm":
		return looser(int64(config.TPM), int64(pinned.TPM))
	case "max_body":
		return looser(config.MaxBody, pinned.MaxBody)
	case "daily_tokens":
		return looser(config.DailyTokens, pinned.DailyTokens)
	case "daily_usd":
		return looser(config.DailyUSD, pinned.DailyUSD)
	case "monthly_usd":
		return looser(config.MonthlyUSD, pinned.MonthlyUSD)
	case "warn_usd":
		return looser(config.WarnUSD, pinned.WarnUSD)
	case "max_output_tokens":
		return looser(config.MaxOutputTokens, pinned.MaxOutputTokens)
	case "models":
		return wider(config.Models, pinned.Models)
	case "endpoints":
		return wider(config.Endpoints, pinned.Endpoints)
	}
	return true
}

// PolicyMismatchError: config.toml's policy of a profile is not the one
// pinned inside its encrypted document. The profile is not used until
// they agree again ('okv policy set' makes them agree, as the user says).
type PolicyMismatchError struct {
	Profile string
	Diffs   []PolicyDiff
}

func (e *PolicyMismatchError) Error() string {
	parts := make([]string, len(e.Diffs))
	for i, d := range e.Diffs {
		parts[i] = d.String()
	}
	return fmt.Sprintf("config.toml's policy of profile %q differs from the policy pinned in the encrypted profile: %s", e.Profile, strings.Join(parts, ", "))
}

// Weaker reports whether any difference protects less than the pin.
func (e *PolicyMismatchError) Weaker() bool {
	return slices.ContainsFunc(e.Diffs, func(d PolicyDiff) bool { return d.Weaker })
}

// PolicyCommand is the okv policy command that would make the pin what
// config.toml says.
func (e *PolicyMismatchError) PolicyCommand() string {
	var set, unset []string
	for _, d := range e.Diffs {
		if d.Config == policyDefault(d.Key) {
			unset = append(unset, d.Key)
			continue
		}
		v := d.Config
		if strings.ContainsAny(v, " '\"$`\\") {
			v = "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		}
		set = append(set, d.Key+"="+v)
	}
	var cmds []string
	if len(set) > 0 {
		cmds = append(cmds, fmt.Sprintf("okv policy set -p %s %s", e.Profile, strings.Join(set, " ")))
	}
	if len(unset) > 0 {
		cmds = append(cmds, fmt.Sprintf("okv policy unset -p %s %s", e.Profile, strings.Join(unset, " ")))
	}
	return strings.Join(cmds, " and ")
}

// pinOf is the document's pin, and whether it has one. A document written
// by an okv before pins carries only its upstream (or nothing): the rest of
// its policy is taken from config.toml as it is, and pinned by its next
// write, as its recipients are.
func (d *Document) pinOf() (Pin, bool) {
	if d.Policy != nil {
		return *d.Policy, true
	}
	return Pin{Upstream: d.Upstream}, false
}

// CheckPolicy refuses a config.toml whose policy for doc's profile is not
// the pinned one. A document without a full pin (an older okv's) is
// compared on its upstream only: an upstream is used only when pinned.
func (v *Vault) CheckPolicy(doc *Document) error {
	cfg := PinOf(v.Config.Policy(doc.Profile))
	pin, full := doc.pinOf()
	if !full {
		cfg = Pin{Upstream: cfg.Upstream}
	}
	if diffs := diffPins(cfg, pin); len(diffs) > 0 {
		return &PolicyMismatchError{Profile: doc.Profile, Diffs: diffs}
	}
	return nil
}

// EffectivePolicy is the policy doc's profile is used under: config.toml's
// (rotation period, service-account ids) with the pinned settings from the
// document. Call CheckPolicy first.
func (v *Vault) EffectivePolicy(doc *Document) Policy {
	p := v.Config.Policy(doc.Profile)
	if pin, full := doc.pinOf(); full {
		return p.withPin(pin)
	}
	p.Upstream = doc.Upstream
	// Where other providers' keys go is used only once pinned.
	p.Providers = nil
	return p
}

// policyDefault is key's value when unset (NAME.KEY included).
func policyDefault(key string) string {
	if name, sub, ok := strings.Cut(key, "."); ok && name != "" {
		return providerGet(ProviderPolicy{}, sub)
	}
	var zero Policy
	pk, _ := findPolicyKey(key)
	if pk.get == nil {
		return ""
	}
	return pk.get(&zero)
}

// Upstream is where a profile's keys may be sent (the proxy, okv verify):
// the pinned upstream, else OKV_OPENAI_BASE_URL from the environment, else
// the provider's default; never an upstream config.toml names without a
// pin. The URL must be https, or http to a loopback address.
func Upstream(pinned string, getenv func(string) string) (string, error) {
	u := pinned
	if u == "" && getenv != nil {
		u = getenv("OKV_OPENAI_BASE_URL")
	}
	if u == "" {
		u = DefaultUpstream
	}
	parsed, err := openai.ParseBaseURL(u)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(parsed.String(), "/"), nil
}

// ValidateUpstream checks a policy upstream as okv policy set takes it.
func ValidateUpstream(u string) error {
	if u == "" {
		return nil
	}
	if _, err := openai.ParseBaseURL(u); err != nil {
		return &PolicyError{Key: "upstream", Reason: err.Error()}
	}
	return nil
}
