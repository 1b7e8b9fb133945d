// Package limits defines a profile's proxy limits: the one type that the
// vault's policy stores (vault.Policy embeds it) and the proxy enforces
// (proxy.Config.Limits), so a new limit is added in one place.
package limits

import (
	"errors"
	"math"
	"path"
	"strings"
)

// DefaultMaxBody is the request body limit when MaxBody is 0.
const DefaultMaxBody = 32 << 20

// Limits is a profile's proxy policy. Zero values mean "no limit".
type Limits struct {
	RPM         int      `toml:"rpm,omitempty,omitzero" json:"rpm,omitempty"`                   // requests per minute (sliding 60 s window)
	TPM         int      `toml:"tpm,omitempty,omitzero" json:"tpm,omitempty"`                   // tokens per minute, counted from responses' usage
	Models      []string `toml:"models,omitempty" json:"models,omitempty"`                      // allowed models; an entry ending in "*" is a prefix
	Endpoints   []string `toml:"endpoints,omitempty" json:"endpoints,omitempty"`                // allowed path prefixes, e.g. "/v1/chat/completions"
	MaxBody     int64    `toml:"max_body,omitempty,omitzero" json:"max_body,omitempty"`         // request body limit in bytes; 0 means DefaultMaxBody
	DailyTokens int64    `toml:"daily_tokens,omitempty,omitzero" json:"daily_tokens,omitempty"` // token budget per UTC day

	// Dollar budgets, counted on the profile's spend (Record.CostUSD, all
	// providers together): per UTC day, per UTC month, and a soft
	// threshold per day that only warns.
	DailyUSD   float64 `toml:"daily_usd,omitempty,omitzero" json:"daily_usd,omitempty"`
	MonthlyUSD float64 `toml:"monthly_usd,omitempty,omitzero" json:"monthly_usd,omitempty"`
	WarnUSD    float64 `toml:"warn_usd,omitempty,omitzero" json:"warn_usd,omitempty"`
	// MaxOutputTokens caps the output a request may ask for (its
	// max_tokens, max_completion_tokens or max_output_tokens, times n):
	// a request asking for more is refused, and one that names no
	// maximum is held against the budgets for this many output tokens.
	MaxOutputTokens int64 `toml:"max_output_tokens,omitempty,omitzero" json:"max_output_tokens,omitempty"`
}

// USD reports whether a dollar budget is set (warn_usd only warns).
func (l Limits) USD() bool { return l.DailyUSD > 0 || l.MonthlyUSD > 0 }

// Check reports a limit that cannot be enforced.
func (l Limits) Check() error {
	if l.RPM < 0 || l.TPM < 0 || l.MaxBody < 0 || l.DailyTokens < 0 || l.MaxOutputTokens < 0 {
		return errors.New("limits cannot be negative")
	}
	for _, v := range []float64{l.DailyUSD, l.MonthlyUSD, l.WarnUSD} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("dollar budgets must be finite and not negative")
		}
	}
	return nil
}

// Any reports whether any limit is set.
func (l Limits) Any() bool {
	return l.RPM > 0 || l.TPM > 0 || len(l.Models) > 0 || len(l.Endpoints) > 0 || l.MaxBody > 0 || l.DailyTokens > 0 ||
		l.DailyUSD > 0 || l.MonthlyUSD > 0 || l.WarnUSD > 0 || l.MaxOutputTokens > 0
}

// Body is the effective request body limit.
func (l Limits) Body() int64 {
	if l.MaxBody > 0 {
		return l.MaxBody
	}
	return DefaultMaxBody
}

// ModelAllowed reports whether model m may be used: no restriction, an
// exact entry, or an entry ending in "*" that m starts with.
func (l Limits) ModelAllowed(m string) bool {
	if len(l.Models) == 0 {
		return true
	}
	for _, a := range l.Models {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if prefix, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(m, prefix) {
				return true
			}
		} else if a == m {
			return true
		}
	}
	return false
}

// EndpointAllowed reports whether the clean path p ("/v1/…") may be used:
// no restriction, or inside one of Endpoints by whole segments. An entry
// is taken under base ("/v1") when it does not start with it.
func (l Limits) EndpointAllowed(base, p string) bool {
	if len(l.Endpoints) == 0 {
		return true
	}
	for _, e := range l.endpoints(base) {
		if p == e || strings.HasPrefix(p, e+"/") {
			return true
		}
	}
	return false
}

// endpoints are the Endpoints entries as clean absolute paths under base
// ("chat/completions" and "/chat/completions" are "/v1/chat/completions").
func (l Limits) endpoints(base string) []string {
	var out []string
	for _, e := range l.Endpoints {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !strings.HasPrefix(e, "/") {
			e = "/" + e
		}
		if e != base && !strings.HasPrefix(e, base+"/") {
			e = base + e
		}
		out = append(out, strings.TrimSuffix(path.Clean(e), "/"))
	}
	return out
}

// EndpointNamed reports whether Endpoints names the endpoint ep ("/v1/…")
// itself: an entry that is ep or a path inside it. A broader entry
// ("/v1") does not name it: endpoints that need naming are let through
// only when the user chose them.
func (l Limits) EndpointNamed(base, ep string) bool {
	for _, e := range l.endpoints(base) {
		if e == ep || strings.HasPrefix(e, ep+"/") {
			return true
		}
	}
	return false
}
