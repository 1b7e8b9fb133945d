// Package prices holds what a model's tokens cost: the Price of one model
// and the arithmetic that turns a request's token counts into dollars.
// The proxy records a request's cost with the price known when it was
// made (proxy.Config.Prices), so a later change of price never rewrites
// what an earlier day cost.
package prices

import "time"

// Price is a model's list price in US dollars per million tokens.
type Price struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
	// CachedInput is the price of input tokens read from the provider's
	// prompt cache; 0 means the provider has no such discount (Input).
	CachedInput float64 `json:"cached_input,omitempty"`
	// CacheWrite is the price of input tokens written to the prompt cache
	// (Anthropic); 0 means Input.
	CacheWrite float64 `json:"cache_write,omitempty"`
	// Checked is the day (YYYY-MM-DD) the price was checked against the
	// provider's price list, or the day a user set it.
	Checked string `json:"checked"`
}

// Cost is the dollars of one request's usage. prompt is every input
// token, including the cacheRead and cacheWrite parts, as okv's ledger
// records them for every provider.
func (p Price) Cost(prompt, cacheRead, cacheWrite, output int64) float64 {
	plain := max(prompt-cacheRead-cacheWrite, 0)
	cached, write := p.CachedInput, p.CacheWrite
	if cached == 0 {
		cached = p.Input
	}
	if write == 0 {
		write = p.Input
	}
	return (float64(plain)*p.Input + float64(cacheRead)*cached + float64(cacheWrite)*write + float64(output)*p.Output) / 1e6
}

// Func finds the price of provider's model ("openai", "gpt-4o-mini") in
// effect at t; ok is false when okv knows no price for it.
type Func func(provider, model string, at time.Time) (p Price, ok bool)
