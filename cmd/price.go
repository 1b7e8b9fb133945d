package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/prices"
	"github.com/okvault/okv/vault"
)

func (a *App) newPriceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "price ls|set|unset|import",
		Short: "The prices okv counts costs and dollar budgets with",
		Long: `okv ships a price table (US dollars per million tokens, per provider and
model, with the day each was checked and the provider's pricing page).
Your own prices override it: 'okv price set' for one model, 'okv price
import' for a whole table in LiteLLM's model_prices_and_context_window.json
format. A model with no known price is shown as unpriced, never as $0.

Overrides live in the personal vault only (prices.json), never in a
project vault: a cloned repository cannot lower the prices your budgets
count with. Changing them unlocks the vault first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("okv price needs a subcommand: ls, set, unset or import")
		},
	}
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls [--json]",
		Short: "List the built-in prices in effect today and your overrides",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPriceLs(asJSON)
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	set := &cobra.Command{
		Use:   "set PROVIDER/MODEL input=USD output=USD [cached_input=USD] [cache_write=USD]",
		Short: "Set your price of a model, per million tokens (overrides the table)",
		Long: `Set your price of a model in US dollars per million tokens. input and
output are needed; cached_input (input read from the provider's prompt
cache) and cache_write (input written to it, Anthropic) default to the
input price. The price applies to requests of the model and of its dated
snapshots (gpt-4o-mini-2024-07-18), from now on and, for records that
carry no cost of their own, in 'okv usage'. A running proxy keeps the
prices it started with.`,
		Example: `  okv price set openai/gpt-4o-mini input=0.15 output=0.60 cached_input=0.075
  okv price set groq/llama-3.1-8b-instant input=0.05 output=0.08`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPriceSet(args[0], args[1:])
		},
	}
	unset := &cobra.Command{
		Use:   "unset PROVIDER/MODEL",
		Short: "Remove your price of a model (the table's applies again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPriceUnset(args[0])
		},
	}
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import prices from a file in LiteLLM's JSON format",
		Long: `Import prices from a file in LiteLLM's model_prices_and_context_window.json
format: an object keyed by model name, with input_cost_per_token,
output_cost_per_token, cache_read_input_token_cost,
cache_creation_input_token_cost (per token; okv stores them per million)
and litellm_provider. Models of providers okv does not proxy, and models
without a per-token input price, are skipped. The prices become your
overrides (replacing earlier ones of the same models). A malformed file is
refused whole, naming its line, column and field, and changes nothing.`,
		Example: `  okv price import model_prices_and_context_window.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPriceImport(args[0])
		},
	}
	set.ValidArgsFunction = a.completePriceKeys(false)
	unset.ValidArgsFunction = a.completePriceKeys(true)
	c.AddCommand(ls, set, unset, imp)
	return c
}

// completePriceKeys completes PROVIDER/MODEL (the table's and your
// overrides', or only the overrides), then set's KEY= words.
func (a *App) completePriceKeys(overridesOnly bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			if overridesOnly {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return []string{"input=", "output=", "cached_input=", "cache_write="}, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		o, _ := a.priceOverrides()
		seen := map[string]bool{}
		var keys []string
		for _, l := range prices.Builtin().List(o, a.Now()) {
			k := l.Provider + "/" + l.Model
			if (l.Override || !overridesOnly) && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		return keys, cobra.ShellCompDirectiveNoFileComp
	}
}

// priceStore is the user's overrides, in the personal vault.
func (a *App) priceStore() (*vault.PriceStore, error) {
	dir, err := vault.PersonalDir(a.Getenv)
	if err != nil {
		return nil, err
	}
	return &vault.PriceStore{Dir: dir}, nil
}

// priceOverrides reads the user's overrides.
func (a *App) priceOverrides() (prices.Overrides, error) {
	s, err := a.priceStore()
	if err != nil {
		return nil, err
	}
	o, err := s.Read()
	if err != nil {
		return nil, withHints(fmt.Errorf("prices: %w", err),
			fmt.Sprintf("fix or remove %s (your price overrides); okv's own table needs no file", s.Path()))
	}
	return o, nil
}

// priceFunc is what okv prices requests with: the built-in table, with
// the user's overrides winning. It is read once: a proxy keeps the prices
// it started with.
func (a *App) priceFunc() (prices.Func, error) {
	o, err := a.priceOverrides()
	if err != nil {
		return nil, err
	}
	return prices.Builtin().Func(o), nil
}

// updatePrices changes the overrides, after unlocking the personal
// vault: prices drive dollar budgets, and a child holding only the
// proxy's token must not be able to lower them.
func (a *App) updatePrices(fn func(prices.Overrides) error) error {
	s, err := a.priceStore()
	if err != nil {
		return err
	}
	pv, err := vault.Open(s.Dir)
	if err != nil {
		if errors.Is(err, vault.ErrNotInitialized) {
			return withHints(errors.New("price overrides live in the personal vault, and there is none"),
				"create it with 'okv init'")
		}
		return err
	}
	if err := a.unlockOwner(pv); err != nil {
		return err
	}
	return s.Update(fn)
}

func (a *App) today() string { return a.Now().UTC().Format(time.DateOnly) }

func (a *App) runPriceLs(asJSON bool) error {
	o, err := a.priceOverrides()
	if err != nil {
		return err
	}
	t := prices.Builtin()
	rows := t.List(o, a.Now())
	if asJSON {
		return writeJSONLines(a.Stdout, rows)
	}
	fmt.Fprintln(a.Stdout, "# US dollars per million tokens; CACHED and CACHE WRITE '-' are the input price")
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tMODEL\tINPUT\tOUTPUT\tCACHED\tCACHE WRITE\tCHECKED\tSOURCE")
	for _, r := range rows {
		src := r.Source
		switch {
		case r.Override:
			src = "override (" + r.Source + ")"
		case r.Overridden:
			src = "built-in, overridden"
		}
		if r.Since != "" {
			src += ", since " + r.Since
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Provider, r.Model, perMillion(r.Input), perMillion(r.Output),
			orInput(r.CachedInput), orInput(r.CacheWrite), r.Checked, src)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var names []string
	for n := range t.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(a.Stdout, "# %s: %s (verify there before relying on a price)\n", n, t.Providers[n].Source)
	}
	return nil
}

func perMillion(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func orInput(v float64) string {
	if v == 0 {
		return "-"
	}
	return perMillion(v)
}

func (a *App) runPriceSet(key string, kvs []string) error {
	prov, model, err := prices.ParseKey(key)
	if err != nil {
		return usagef("%v", err)
	}
	p := prices.Price{Checked: a.today()}
	seen := map[string]bool{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		var dst *float64
		switch k {
		case "input":
			dst = &p.Input
		case "output":
			dst = &p.Output
		case "cached_input":
			dst = &p.CachedInput
		case "cache_write":
			dst = &p.CacheWrite
		}
		if !ok || dst == nil {
			return &usageError{msg: fmt.Sprintf("%q: want KEY=USD with KEY input, output, cached_input or cache_write", kv),
				hints: []string{"okv price set openai/gpt-4o-mini input=0.15 output=0.60"}}
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return usagef("%s=%q: want US dollars per million tokens, like %s=0.15", k, v, k)
		}
		*dst, seen[k] = f, true
	}
	if !seen["input"] || !seen["output"] {
		return &usageError{msg: "okv price set needs both input= and output= (US dollars per million tokens)",
			hints: []string{fmt.Sprintf("okv price set %s/%s input=0.15 output=0.60", prov, model)}}
	}
	if err := p.Check(); err != nil {
		return usagef("%v", err)
	}
	if err := a.updatePrices(func(o prices.Overrides) error {
		o[prov+"/"+model] = prices.Override{Price: p, Source: "set"}
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: price of %s/%s set: input $%s, output $%s per million tokens\n", prov, model, perMillion(p.Input), perMillion(p.Output))
	return nil
}

func (a *App) runPriceUnset(key string) error {
	prov, model, err := prices.ParseKey(key)
	if err != nil {
		return usagef("%v", err)
	}
	k := prov + "/" + model
	o, err := a.priceOverrides()
	if err != nil {
		return err
	}
	if _, ok := o[k]; !ok {
		return withHints(fmt.Errorf("you set no price for %s", k), "'okv price ls' lists your overrides")
	}
	if err := a.updatePrices(func(o prices.Overrides) error {
		delete(o, k)
		return nil
	}); err != nil {
		return err
	}
	msg := "it has no known price now"
	if _, ok := prices.Builtin().Lookup(prov, model, a.Now()); ok {
		msg = "okv's own price applies again"
	}
	fmt.Fprintf(a.Stderr, "okv: price of %s removed: %s\n", k, msg)
	return nil
}

// maxPriceFile bounds an imported file (LiteLLM's is a few MiB).
const maxPriceFile = 64 << 20

func (a *App) runPriceImport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPriceFile+1))
	f.Close()
	if err != nil {
		return err
	}
	if len(data) > maxPriceFile {
		return fmt.Errorf("%s: more than %d MiB: not a price file", path, maxPriceFile>>20)
	}
	// Parsed before anything is unlocked or written: a malformed file
	// changes nothing.
	imp, err := prices.ParseLiteLLM(path, data, a.today(), "import "+path)
	if err != nil {
		return withHints(err, "nothing was imported: your prices are unchanged")
	}
	if len(imp.Prices) == 0 {
		return withHints(fmt.Errorf("%s: no price of a provider okv proxies", path),
			"nothing was imported: your prices are unchanged")
	}
	if err := a.updatePrices(func(o prices.Overrides) error {
		for k, v := range imp.Prices {
			o[k] = v
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: imported %d prices from %s (skipped %d: %d of providers okv does not proxy, %d without a per-token price)\n",
		len(imp.Prices), path, imp.OtherProvider+imp.NoTokenPrice, imp.OtherProvider, imp.NoTokenPrice)
	return nil
}
