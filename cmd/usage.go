package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

func (a *App) newUsageCmd() *cobra.Command {
	var since, by string
	var asJSON, remote, reset, check bool
	var adm adminOptions
	c := &cobra.Command{
		Use:   "usage [-p P] [--since 7d] [--by day|model|provider] [--remote [--check]]",
		Short: "Requests, tokens, errors and latency of calls made through okv's proxy",
		Long: `Summarise the proxy's usage ledger (usage-YYYY-MM.jsonl, one file per UTC
month; only the months asked for are read): requests, errors, refusals,
prompt/completion tokens, cost in US dollars and p50/p99 latency, per day,
model or provider, with a total. Without -p/--profile or OKV_PROFILE, every
profile is included.

A request's cost is the one the proxy recorded with it, at the price in
effect when it was made; records of earlier okv versions are priced from
okv's price table and your overrides ('okv price ls') at their time. Tokens
of a model with no known price are never counted as $0: the row says
"+ unpriced" and okv names the models.

The ledger is chained: okv warns when it was truncated or edited, and the
proxy then takes every daily budget as spent, until you run
'okv usage --reset-ledger' (which unlocks the vault first, so that a child
holding only the proxy token cannot).

With --remote, ask OpenAI's Admin API (with OPENAI_ADMIN_KEY from the admin
profile) for this key's organisation-side usage per day instead.

With --remote --check, find usage behind okv's back: for every profile
holding an OPENAI_API_KEY (only -p/--profile's, if given) and every UTC day
of --since (counted in whole days, today included), compare the requests
OpenAI reports for the key with those okv's proxy made with it, and warn
about each key and day with requests okv did not make. When okv gave the
key to a command without the proxy that day (okv run, get, read, export,
inject), it cannot tell those requests apart and says so; such a finding
does not fail the check unless the profile is pinned to proxy mode.
Exit 0: no finding; 1: a finding (or an error); 3: the vault is locked. For
cron, 'okv status --check' runs the same check.`,
		Example: `  okv usage -p prod --since 7d --by model
  okv usage -p prod --remote --since 30d
  okv usage --remote --check --since 2d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d := 7 * 24 * time.Hour
			if since != "" {
				v, err := vault.ParseDuration(since)
				if err != nil {
					return usagef("--since: %v", err)
				}
				d = time.Duration(v)
			}
			if reset {
				return a.resetLedger()
			}
			if check {
				if !remote {
					return usagef("--check compares OpenAI's report with the ledger: use it with --remote")
				}
				if cmd.Flags().Changed("by") || asJSON {
					return usagef("--check prints its own table: drop --by and --json")
				}
				return a.runUsageCheck(wholeDays(d), adm)
			}
			if remote {
				v, err := a.openVault()
				if err != nil {
					return err
				}
				profile, err := a.profile(v)
				if err != nil {
					return err
				}
				return a.runRemoteUsageWith(profile, d, adm)
			}
			return a.runUsage(d, by, asJSON)
		},
	}
	c.Flags().StringVar(&since, "since", "7d", "how far back (like 24h, 7d, 30d)")
	c.Flags().StringVar(&by, "by", "day", "group by day, model or provider")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&remote, "remote", false, "org-side usage of this key from the OpenAI Admin API")
	c.Flags().BoolVar(&check, "check", false, "with --remote: compare OpenAI's usage of each key with okv's ledger; exit 1 on usage okv did not make")
	c.Flags().BoolVar(&reset, "reset-ledger", false, "accept a truncated or edited ledger as it is now, ending the spent budgets (unlocks the vault)")
	addAdminFlags(c, &adm)
	c.RegisterFlagCompletionFunc("by", cobra.FixedCompletions([]string{"day", "model", "provider"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// wholeDays is d in UTC days, rounded up, at least 1.
func wholeDays(d time.Duration) int {
	n := int((d + 24*time.Hour - 1) / (24 * time.Hour))
	if n < 1 {
		n = 1
	}
	return n
}

func (a *App) runUsage(since time.Duration, by string, asJSON bool) error {
	if by != "day" && by != "model" && by != "provider" {
		return usagef("--by %q: use day, model or provider", by)
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	profile, err := a.explicitProfile(v)
	if err != nil {
		return err
	}
	if _, err := v.UsagePath(); err != nil { // no ledger file is followed through a link
		return err
	}
	now := a.Now()
	if why, err := proxy.LedgerProblem(v.Dir, now); err != nil {
		return err
	} else if why != "" {
		fmt.Fprintf(a.Stderr, "okv: warning: %s\nokv: hint: the proxy takes every daily budget as spent; when you know why, accept the ledger as it is with 'okv usage --reset-ledger'\n",
			(&proxy.ErrLedgerTampered{Why: why}).Error())
	}
	from := now.Add(-since)
	// Only the months since then (and a legacy usage.jsonl).
	recs, err := proxy.ReadLedger(v.Dir, from, now)
	if err != nil {
		return err
	}
	if profile != "" {
		kept := recs[:0]
		for _, r := range recs {
			if r.Profile == profile {
				kept = append(kept, r)
			}
		}
		recs = kept
	}
	// Records carry their cost at the price of their day; older ones are
	// priced from the table (and your overrides) at their time.
	priceOf, err := a.priceFunc()
	if err != nil {
		return err
	}
	rows, err := proxy.SummarizePriced(recs, from, by, priceOf)
	if err != nil {
		return err
	}
	total, _ := proxy.SummarizePriced(recs, from, "", priceOf)
	if asJSON {
		return writeJSONLines(a.Stdout, rows)
	}
	scope := "all profiles"
	if profile != "" {
		scope = "profile " + profile
	}
	fmt.Fprintf(a.Stdout, "# %s, since %s\n", scope, from.UTC().Format("2006-01-02 15:04 MST"))
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "DAY"
	switch by {
	case "model":
		head = "MODEL"
	case "provider":
		head = "PROVIDER"
	}
	fmt.Fprintf(tw, "%s\tREQUESTS\tERRORS\tREFUSED\tPROMPT\tCOMPLETION\tTOTAL\tCOST USD\tP50 MS\tP99 MS\t\n", head)
	for _, r := range append(rows, total...) {
		key := r.Key
		if key == "total" {
			key = "TOTAL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.0f\t%.0f\t\n", key, r.Requests, r.Errors, r.Refused, r.PromptTokens, r.CompletionTokens, r.TotalTokens, costText(r), r.P50MS, r.P99MS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(total) == 1 && total[0].Unpriced() {
		t := total[0]
		reqs := "requests"
		if t.UnpricedRequests == 1 {
			reqs = "request"
		}
		fmt.Fprintf(a.Stderr, "okv: note: no known price for %s (%d tokens in %d %s): the costs above leave them out\n",
			strings.Join(t.UnpricedModels, ", "), t.UnpricedTokens, t.UnpricedRequests, reqs)
		for _, m := range t.UnpricedModels {
			if !strings.HasSuffix(m, "/-") { // a request without a model cannot be priced
				fmt.Fprintf(a.Stderr, "okv: hint: give one a price with 'okv price set %s input=USD output=USD' (per million tokens)\n", m)
				break
			}
		}
	}
	return nil
}

// costText is a row's cost: the dollars of its priced requests, and
// "+ unpriced" when some tokens have no known price (never $0 for them).
func costText(s proxy.Summary) string {
	if !s.Unpriced() {
		return usd(s.CostUSD)
	}
	if s.CostUSD == 0 {
		return "unpriced"
	}
	return usd(s.CostUSD) + " + unpriced"
}

// usd shows dollars to the cent from $1, else to 10⁻⁴ $, or 10⁻⁶ $ under
// a cent (a request's cost is often a fraction of one).
func usd(v float64) string {
	switch {
	case v == 0:
		return "$0.00"
	case v >= 1:
		return fmt.Sprintf("$%.2f", v)
	case v >= 0.01:
		return fmt.Sprintf("$%.4f", v)
	case v < 0.0000005:
		return "<$0.000001"
	}
	return fmt.Sprintf("$%.6f", v)
}

// resetLedger accepts a tampered ledger as it is now. It unlocks the
// vault first: the proxied child has the proxy's token, not the identity.
func (a *App) resetLedger() error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	if _, err := v.UsagePath(); err != nil {
		return err
	}
	if err := a.unlockOwner(v); err != nil {
		return err
	}
	why, err := proxy.LedgerProblem(v.Dir, a.Now())
	if err != nil {
		return err
	}
	if why == "" {
		fmt.Fprintln(a.Stderr, "okv: the usage ledger is intact: nothing to reset")
		return nil
	}
	if err := proxy.ResetLedger(v.Dir, a.Now()); err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: accepted the usage ledger as it is (%s); today's budgets count from what it holds\n", why)
	return nil
}

// writeJSONLines prints one JSON object a line (JSON Lines), the --json
// form of okv usage and okv price list.
func writeJSONLines[T any](w io.Writer, rows []T) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
