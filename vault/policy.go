package vault

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/okvault/okv/limits"
)

// PolicyKey describes one user-settable policy setting.
type PolicyKey struct {
	Name string
	Help string
	set  func(p *Policy, v string) error
	get  func(p *Policy) string
}

// PolicyKeys are the settings `okv policy set` accepts, in display order.
var PolicyKeys = []PolicyKey{
	{"confirm", "ask on the terminal before every use (true/false)",
		func(p *Policy, v string) (err error) { p.Confirm, err = parseBool(v); return },
		func(p *Policy) string { return strconv.FormatBool(p.Confirm) }},
	{"proxy", "always run through okv's proxy: the real key never enters a child (true/false)",
		func(p *Policy, v string) (err error) { p.Proxy, err = parseBool(v); return },
		func(p *Policy) string { return strconv.FormatBool(p.Proxy) }},
	{"max_age", "rotation period, like 90d or 36h (default 90d)",
		func(p *Policy, v string) error {
			d, err := ParseDuration(v)
			if err == nil && d <= 0 {
				err = fmt.Errorf("want a period longer than zero, like 90d (unset it for the default)")
			}
			p.MaxAge = d
			return err
		},
		func(p *Policy) string { return Duration(p.EffectiveMaxAge()).String() }},
	{"upstream", "OpenAI API base URL the proxy forwards to (default https://api.openai.com)",
		func(p *Policy, v string) error {
			if v == "" {
				p.Upstream = ""
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fmt.Errorf("want an http(s) URL like https://api.openai.com")
			}
			p.Upstream = strings.TrimRight(v, "/")
			return nil
		},
		func(p *Policy) string {
			if p.Upstream == "" {
				return "https://api.openai.com"
			}
			return p.Upstream
		}},
	{"rpm", "requests per minute through the proxy (0 = unlimited)",
		func(p *Policy, v string) (err error) { p.RPM, err = parseCount(v); return },
		func(p *Policy) string { return strconv.Itoa(p.RPM) }},
	{"tpm", "tokens per minute through the proxy (0 = unlimited)",
		func(p *Policy, v string) (err error) { p.TPM, err = parseCount(v); return },
		func(p *Policy) string { return strconv.Itoa(p.TPM) }},
	{"models", "allowed models, comma-separated (empty = all)",
		func(p *Policy, v string) error { p.Models = splitList(v); return nil },
		func(p *Policy) string { return strings.Join(p.Models, ",") }},
	{"endpoints", "allowed path prefixes like /v1/chat/completions, comma-separated (empty = all)",
		func(p *Policy, v string) error {
			eps := splitList(v)
			for _, e := range eps {
				if !strings.HasPrefix(e, "/") {
					return fmt.Errorf("endpoint %q must start with /", e)
				}
			}
			p.Endpoints = eps
			return nil
		},
		func(p *Policy) string { return strings.Join(p.Endpoints, ",") }},
	{"max_body", "largest request body in bytes (0 = the proxy's default, 32 MiB)",
		func(p *Policy, v string) error { n, err := parseCount(v); p.MaxBody = int64(n); return err },
		func(p *Policy) string { return strconv.FormatInt(p.MaxBody, 10) }},
	{"daily_tokens", "token budget per UTC day through the proxy (0 = unlimited)",
		func(p *Policy, v string) error { n, err := parseCount(v); p.DailyTokens = int64(n); return err },
		func(p *Policy) string { return strconv.FormatInt(p.DailyTokens, 10) }},
	{"daily_usd", "dollar budget per UTC day of the profile's spend through the proxy, all providers (0 = unlimited)",
		func(p *Policy, v string) (err error) { p.DailyUSD, err = parseUSD(v); return },
		func(p *Policy) string { return formatUSD(p.DailyUSD) }},
	{"monthly_usd", "dollar budget per UTC month of the profile's spend through the proxy (0 = unlimited)",
		func(p *Policy, v string) (err error) { p.MonthlyUSD, err = parseUSD(v); return },
		func(p *Policy) string { return formatUSD(p.MonthlyUSD) }},
	{"warn_usd", "warn once on okv's stderr when the day's spend passes this many dollars (0 = never)",
		func(p *Policy, v string) (err error) { p.WarnUSD, err = parseUSD(v); return },
		func(p *Policy) string { return formatUSD(p.WarnUSD) }},
	{"max_output_tokens", "most output tokens a request may ask for; the hold of one that names none (0 = no cap)",
		func(p *Policy, v string) error { n, err := parseCount(v); p.MaxOutputTokens = int64(n); return err },
		func(p *Policy) string { return strconv.FormatInt(p.MaxOutputTokens, 10) }},
}

// parseUSD reads a dollar amount: a finite number ≥ 0 ("5", "12.50",
// "$5"); 0 means no budget.
func parseUSD(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSpace(v), "$"), 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e9 {
		return 0, fmt.Errorf("want a dollar amount like 5 or 12.50 (0 = no budget), got %q", v)
	}
	return f, nil
}

func formatUSD(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// PolicyKeyNames lists the settable keys.
func PolicyKeyNames() []string {
	out := make([]string, len(PolicyKeys))
	for i, k := range PolicyKeys {
		out[i] = k.Name
	}
	return out
}

func findPolicyKey(name string) (PolicyKey, bool) {
	for _, k := range PolicyKeys {
		if k.Name == name {
			return k, true
		}
	}
	return PolicyKey{}, false
}

// PolicyError: a bad `key=value` for okv policy set.
type PolicyError struct {
	Key, Reason string
}

func (e *PolicyError) Error() string {
	if e.Key == "" {
		return e.Reason
	}
	return fmt.Sprintf("policy %s: %s", e.Key, e.Reason)
}

// SetPolicy applies "key=value" assignments to p. All are checked before
// any is applied.
func (p *Policy) Set(assignments []string) error {
	next := *p
	next.Providers = cloneProviders(p.Providers)
	for _, a := range assignments {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if mightBeValue(a) {
				return &PolicyError{Reason: "an argument is not key=value (not shown: it looks like a key)"}
			}
			return &PolicyError{Reason: fmt.Sprintf("%q is not key=value", a)}
		}
		k = strings.TrimSpace(k)
		// A known provider setting is never taken for a value, however
		// long (anthropic.max_output_tokens).
		if name, sub, dotted := strings.Cut(k, "."); dotted && (!mightBeValue(k) || limits.ProviderName(name) && slices.Contains(providerKeys, sub)) {
			if name == "openai" {
				k = sub // the unprefixed keys are OpenAI's
			} else {
				if err := setProvider(&next, name, sub, strings.TrimSpace(v)); err != nil {
					return err
				}
				continue
			}
		}
		pk, ok := findPolicyKey(k)
		if !ok {
			if mightBeValue(k) {
				k = "(not shown)"
			}
			return &PolicyError{Key: k, Reason: "unknown setting (known: " + strings.Join(PolicyKeyNames(), ", ") + ")"}
		}
		if err := pk.set(&next, strings.TrimSpace(v)); err != nil {
			return &PolicyError{Key: pk.Name, Reason: err.Error()}
		}
	}
	*p = next
	return nil
}

// Unset resets keys to their defaults.
func (p *Policy) Unset(keys []string) error {
	next := *p
	next.Providers = cloneProviders(p.Providers)
	for _, k := range keys {
		if name, sub, dotted := strings.Cut(k, "."); dotted {
			if name == "openai" {
				k = sub
			} else {
				if err := setProvider(&next, name, sub, ""); err != nil {
					return err
				}
				continue
			}
		}
		if _, ok := findPolicyKey(k); !ok {
			return &PolicyError{Key: k, Reason: "unknown setting (known: " + strings.Join(PolicyKeyNames(), ", ") + ")"}
		}
		var zero Policy
		switch k {
		case "confirm":
			next.Confirm = zero.Confirm
		case "proxy":
			next.Proxy = zero.Proxy
		case "max_age":
			next.MaxAge = zero.MaxAge
		case "upstream":
			next.Upstream = zero.Upstream
		case "rpm":
			next.RPM = 0
		case "tpm":
			next.TPM = 0
		case "models":
			next.Models = nil
		case "endpoints":
			next.Endpoints = nil
		case "max_body":
			next.MaxBody = 0
		case "daily_tokens":
			next.DailyTokens = 0
		case "daily_usd":
			next.DailyUSD = 0
		case "monthly_usd":
			next.MonthlyUSD = 0
		case "warn_usd":
			next.WarnUSD = 0
		case "max_output_tokens":
			next.MaxOutputTokens = 0
		default:
			// A key in PolicyKeys that this switch forgot would report
			// success and change nothing (TestUnsetEveryKey).
			return &PolicyError{Key: k, Reason: "cannot be unset (internal error: no default known)"}
		}
	}
	*p = next
	return nil
}

// Values returns every settable key's effective value.
func (p *Policy) Values() [][2]string {
	out := make([][2]string, len(PolicyKeys))
	for i, k := range PolicyKeys {
		out[i] = [2]string{k.Name, k.get(p)}
	}
	return append(out, providerValues(p.Providers)...)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

func parseCount(v string) (int, error) {
	mult := 1
	lv := strings.ToLower(v)
	for suf, m := range map[string]int{"k": 1_000, "m": 1_000_000, "kib": 1 << 10, "mib": 1 << 20} {
		if strings.HasSuffix(lv, suf) && len(lv) > len(suf) {
			if _, err := strconv.Atoi(lv[:len(lv)-len(suf)]); err == nil {
				mult, lv = m, lv[:len(lv)-len(suf)]
				break
			}
		}
	}
	n, err := strconv.Atoi(lv)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number ≥ 0 (like 60, 100k, 2m, 32MiB), got %q", v)
	}
	return n * mult, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
