package prices

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/okvault/okv/limits"
)

// builtinJSON is the price table shipped in the binary: per provider, its
// pricing page, the day it was checked, and each model's prices with
// their history ("since": the first UTC day of a price).
//
//go:embed table.json
var builtinJSON []byte

// Table is a price table: per provider and model, the prices in effect
// from given days.
type Table struct {
	Providers map[string]*ProviderPrices
}

// ProviderPrices is one provider's part of a Table.
type ProviderPrices struct {
	Source  string `json:"source"`  // the provider's pricing page
	Checked string `json:"checked"` // the day its prices were checked
	Note    string `json:"note,omitempty"`
	// Models are the prices of each model, oldest first.
	Models map[string][]Entry `json:"models"`
	// Aliases are other names of a model ("claude-sonnet-4-0").
	Aliases map[string]string `json:"aliases,omitempty"`
}

// Entry is a price in effect from Since (YYYY-MM-DD, UTC) until the next
// entry's; an empty Since is in effect from the beginning.
type Entry struct {
	Since string `json:"since,omitempty"`
	Price
}

type tableFile struct {
	Okv       int                        `json:"okv_prices"`
	Note      string                     `json:"note"`
	Providers map[string]*ProviderPrices `json:"providers"`
}

var builtin = sync.OnceValue(func() *Table {
	t, err := ParseTable(builtinJSON)
	if err != nil {
		panic("prices: the embedded table.json: " + err.Error()) // TestBuiltinTable keeps this from shipping
	}
	return t
})

// Builtin is the table shipped with okv.
func Builtin() *Table { return builtin() }

// ParseTable reads a table in table.json's format, checking every price
// and date.
func ParseTable(data []byte) (*Table, error) {
	var f tableFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Okv != 1 {
		return nil, fmt.Errorf("okv_prices is %d, want 1", f.Okv)
	}
	for name, p := range f.Providers {
		if _, err := time.Parse(time.DateOnly, p.Checked); err != nil {
			return nil, fmt.Errorf("%s: checked %q is not a date", name, p.Checked)
		}
		if p.Source == "" {
			return nil, fmt.Errorf("%s: no source", name)
		}
		for model, es := range p.Models {
			for i := range es {
				e := &es[i]
				if e.Since != "" {
					if _, err := time.Parse(time.DateOnly, e.Since); err != nil {
						return nil, fmt.Errorf("%s/%s: since %q is not a date", name, model, e.Since)
					}
				}
				if i > 0 && (e.Since == "" || e.Since <= es[i-1].Since) {
					return nil, fmt.Errorf("%s/%s: entries must come oldest first, each with a later since", name, model)
				}
				if err := e.Price.Check(); err != nil {
					return nil, fmt.Errorf("%s/%s: %w", name, model, err)
				}
				if e.Checked == "" {
					e.Checked = p.Checked
				}
			}
		}
		for alias, to := range p.Aliases {
			if _, ok := p.Models[to]; !ok {
				return nil, fmt.Errorf("%s: alias %s names %s, which has no price", name, alias, to)
			}
		}
	}
	return &Table{Providers: f.Providers}, nil
}

// Check refuses a price that is negative, not finite, or absurd.
func (p Price) Check() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"input", p.Input}, {"output", p.Output}, {"cached_input", p.CachedInput}, {"cache_write", p.CacheWrite}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("%s %v: want a price ≥ 0", f.name, f.v)
		}
		if f.v > MaxPrice {
			return fmt.Errorf("%s %v: more than $%v per million tokens", f.name, f.v, MaxPrice)
		}
	}
	return nil
}

// MaxPrice bounds a price per million tokens: a typo (a per-token price
// given per million, ×10⁶) is refused rather than believed.
const MaxPrice = 100000

// at is the entry of es in effect at t.
func at(es []Entry, t time.Time) (Price, bool) {
	day := t.UTC().Format(time.DateOnly)
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Since == "" || es[i].Since <= day {
			return es[i].Price, true
		}
	}
	return Price{}, false // before the model had a price
}

// Candidates are the names a model's price is looked up under, longest
// first: the name as sent (lowercase, without Gemini's "models/" prefix),
// then without its snapshot suffix (a date like -2024-07-18 or -20241022,
// @20241022, -latest, or a three-digit version like -001). Other
// suffixes (-0613, -preview-05-20) are different models with prices of
// their own: never stripped, so never priced as their family.
func Candidates(model string) []string {
	m := strings.ToLower(strings.TrimSpace(model))
	m = strings.TrimPrefix(m, "models/")
	if m == "" {
		return nil
	}
	out := []string{m}
	for {
		n := snapshotSuffix(m)
		if n == 0 || n == len(m) {
			return out
		}
		m = m[:len(m)-n]
		out = append(out, m)
	}
}

// snapshotSuffix is the length of m's snapshot suffix, or 0: -2024-07-18,
// -20241022, @20241022, -latest, -001. (By hand rather than a regular
// expression: it runs on every proxied request, and this is 10× faster.)
func snapshotSuffix(m string) int {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	switch n := len(m); {
	case strings.HasSuffix(m, "-latest"):
		return len("-latest")
	case n >= 11 && m[n-11] == '-' && m[n-6] == '-' && m[n-3] == '-' && digits(m[n-10:n-6]) && digits(m[n-5:n-3]) && digits(m[n-2:]):
		return 11
	case n >= 9 && (m[n-9] == '-' || m[n-9] == '@') && digits(m[n-8:]):
		return 9
	case n >= 4 && m[n-4] == '-' && digits(m[n-3:]):
		return 4
	}
	return 0
}

// Lookup finds the price of provider's model at t in the table; an empty
// provider is OpenAI (ledger records of okv versions that proxied OpenAI
// only).
func (t *Table) Lookup(provider, model string, at time.Time) (Price, bool) {
	for _, c := range Candidates(model) {
		if p, ok := t.exact(provider, c, at); ok {
			return p, true
		}
	}
	return Price{}, false
}

func (t *Table) exact(provider, model string, when time.Time) (Price, bool) {
	if provider == "" {
		provider = "openai"
	}
	pp := t.Providers[provider]
	if pp == nil {
		return Price{}, false
	}
	if to, ok := pp.Aliases[model]; ok {
		model = to
	}
	es, ok := pp.Models[model]
	if !ok {
		return Price{}, false
	}
	return at(es, when)
}

// Func is the lookup of t with the user's overrides o, which win over
// the table at the same name (and a longer name wins over a shorter one:
// the table's price of a snapshot over an override of its family).
func (t *Table) Func(o Overrides) Func {
	return func(provider, model string, when time.Time) (Price, bool) {
		if provider == "" {
			provider = "openai"
		}
		for _, c := range Candidates(model) {
			if ov, ok := o[provider+"/"+c]; ok {
				return ov.Price, true
			}
			if p, ok := t.exact(provider, c, when); ok {
				return p, true
			}
		}
		return Price{}, false
	}
}

// Listed is one row of a table listing: a model's price in effect at a
// given time.
type Listed struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Price
	Since string `json:"since,omitempty"` // the price's first day, when it changed
	// Source is "built-in", or where an override came from ("set",
	// "import FILE").
	Source     string `json:"source"`
	Override   bool   `json:"override"`
	Overridden bool   `json:"overridden,omitempty"` // a built-in price an override replaces
}

// List is the table's prices in effect at when, and the overrides,
// sorted by provider and model (a built-in price before the override
// that replaces it).
func (t *Table) List(o Overrides, when time.Time) []Listed {
	var out []Listed
	for name, pp := range t.Providers {
		for model, es := range pp.Models {
			p, ok := at(es, when)
			if !ok {
				continue
			}
			l := Listed{Provider: name, Model: model, Price: p, Source: "built-in"}
			for _, e := range es {
				if e.Price == p && len(es) > 1 {
					l.Since = e.Since
				}
			}
			_, l.Overridden = o[name+"/"+model]
			out = append(out, l)
		}
	}
	for key, ov := range o {
		prov, model, _ := strings.Cut(key, "/")
		src := ov.Source
		if src == "" {
			src = "set"
		}
		out = append(out, Listed{Provider: prov, Model: model, Price: ov.Price, Source: src, Override: true})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		return !a.Override && b.Override
	})
	return out
}

// Override is a price the user set or imported, and where it came from.
type Override struct {
	Price
	Source string `json:"source,omitempty"` // "set", "import FILE"
}

// Overrides are the user's prices by "provider/model".
type Overrides map[string]Override

type overridesFile struct {
	Okv    int       `json:"okv_prices"`
	Prices Overrides `json:"prices"`
}

// ParseOverrides reads the user's prices file (MarshalOverrides).
func ParseOverrides(data []byte) (Overrides, error) {
	var f overridesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, errors.New("not a prices file")
	}
	if f.Okv != 1 {
		return nil, fmt.Errorf("okv_prices is %d, want 1", f.Okv)
	}
	o := Overrides{}
	for k, ov := range f.Prices {
		prov, model, err := ParseKey(k)
		if err != nil {
			return nil, err
		}
		if err := ov.Price.Check(); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		o[prov+"/"+model] = ov
	}
	return o, nil
}

// MarshalOverrides is the prices file's content for o.
func MarshalOverrides(o Overrides) ([]byte, error) {
	if o == nil {
		o = Overrides{}
	}
	b, err := json.MarshalIndent(overridesFile{Okv: 1, Prices: o}, "", "  ")
	return append(b, '\n'), err
}

// ParseKey splits "provider/model" ("openai/gpt-4o-mini"); the model may
// hold further slashes (OpenRouter's "openrouter/openai/gpt-4o"). The
// model is stored lowercase, as lookups compare it.
func ParseKey(s string) (provider, model string, err error) {
	provider, model, ok := strings.Cut(s, "/")
	if !ok || !limits.ProviderName(provider) {
		return "", "", fmt.Errorf("%q: want PROVIDER/MODEL like openai/gpt-4o-mini", s)
	}
	model = strings.ToLower(model)
	if model == "" || len(model) > 200 || strings.ContainsFunc(model, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", "", fmt.Errorf("%q: the model must be a name without spaces like gpt-4o-mini", s)
	}
	return provider, model, nil
}
