package cmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/reconcile"
	"github.com/okvault/okv/vault"
)

// Reconciliation: per OpenAI key and UTC day, the requests OpenAI's Admin
// API reports (completions usage grouped by api_key_id) against those
// okv's proxy ledger recorded for the profiles holding the key. Requests
// okv cannot account for are findings. `okv usage --remote --check` shows
// the comparison; `okv status --check` runs it for cron.

// handOps are the audit operations that give a secret's value to a
// program without the proxy: that program's requests are not in the
// ledger.
var handOps = map[string]bool{"run": true, "get": true, "read": true, "export": true, "inject": true}

// checkedKey is one OpenAI key okv holds, and what was found for it.
type checkedKey struct {
	id            string
	project       string   // from the policy or the usage report
	profiles      []string // the profiles holding it, sorted
	proxyRequired bool     // a profile holding it is pinned to proxy mode
	days          []reconcile.DayResult
}

// usageFinding: requests with a key on a day that okv did not make.
type usageFinding struct {
	key   *checkedKey
	day   string
	extra int64
	// handed is how many commands okv gave the key to that day without
	// the proxy (okv run, get, read, export, inject); ops names them.
	handed int
	ops    []string
}

// soft: okv gave the key out that day, so the requests may be the user's
// own. A profile pinned to proxy mode never hands its key to a child
// through okv run, so its findings are never soft.
func (f usageFinding) soft() bool { return f.handed > 0 && !f.key.proxyRequired }

type reconcileReport struct {
	days      []string
	keys      []*checkedKey
	findings  []usageFinding
	unchecked []string // "OPENAI_API_KEY in dev: why", printed as notes
	hints     []string // for the unchecked
	costs     []projectCost
}

// hard counts the findings that make the check fail.
func (r *reconcileReport) hard() int {
	n := 0
	for _, f := range r.findings {
		if !f.soft() {
			n++
		}
	}
	return n
}

// projectCost is one project's cost on one day: OpenAI's costs report
// against the cost okv's ledger recorded for the project's profiles.
type projectCost struct {
	project, day string
	openaiUSD    float64
	okvUSD       float64
	okvUnpriced  int // requests okv knew no price for
}

// reconcileUsage compares the last days UTC days (today included) of
// every profile holding an OPENAI_API_KEY (only the profile only, if
// given). ids unlock the vault; the admin key comes from adm's profile,
// its use recorded in the audit log for what.
func (a *App) reconcileUsage(v *vault.Vault, ids []ageIdentity, only string, days int, adm adminOptions, what string) (*reconcileReport, error) {
	adm = adm.withDefaults(a.Getenv)
	now := a.Now()
	rep := &reconcileReport{days: reconcile.Days(now, days)}
	start, err := time.Parse(reconcile.DayFormat, rep.days[0])
	if err != nil {
		return nil, err
	}
	profiles := []string{only}
	if only == "" {
		if profiles, err = v.ProfileNames(); err != nil {
			return nil, err
		}
	}
	client, err := a.adminClient(v, ids, adm, what)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The keys, by OpenAI id: two profiles may hold the same key.
	byID := map[string]*checkedKey{}
	projectKeys := map[string][]openai.ProjectAPIKey{}
	for _, p := range profiles {
		if p == adm.profile {
			continue // the admin key is not a project key
		}
		doc, err := v.Load(p, ids)
		if err != nil {
			msg, _, _ := a.explain(err)
			rep.unchecked = append(rep.unchecked, fmt.Sprintf("profile %s: %s", p, msg))
			continue
		}
		s, ok := doc.Secrets[defaultSecret]
		if !ok {
			continue
		}
		pol := v.Config.Policy(p)
		id := pol.APIKeyID
		if id == "" && pol.Project != "" {
			keys, seen := projectKeys[pol.Project]
			if !seen {
				if err := openai.ValidateID("project id", pol.Project); err != nil {
					return nil, err
				}
				if keys, err = client.ProjectAPIKeys(ctx, pol.Project); err != nil {
					return nil, &adminCallError{Step: "listing the API keys of project " + pol.Project, AdminProfile: adm.profile, Err: err}
				}
				projectKeys[pol.Project] = keys
			}
			var found []string
			for _, k := range keys {
				if openai.MatchRedacted(k.RedactedValue, s.Value) {
					found = append(found, k.ID)
				}
			}
			switch len(found) {
			case 1:
				id = found[0]
			case 0:
				rep.unchecked = append(rep.unchecked, fmt.Sprintf("%s in %s: no API key of project %s matches it", defaultSecret, p, pol.Project))
				continue
			default:
				rep.unchecked = append(rep.unchecked, fmt.Sprintf("%s in %s: several API keys of project %s match it (%s)", defaultSecret, p, pol.Project, strings.Join(found, ", ")))
				continue
			}
		}
		if id == "" {
			rep.unchecked = append(rep.unchecked, fmt.Sprintf("%s in %s: okv does not know its OpenAI key id", defaultSecret, p))
			rep.hints = append(rep.hints, fmt.Sprintf("add project = \"proj_…\" (okv finds the key in it) or api_key_id = \"key_…\" under [profiles.%s] in config.toml; keys rotated with 'okv rotate --service-account' are known", p))
			continue
		}
		if err := openai.ValidateID("api key id", id); err != nil {
			return nil, err
		}
		k := byID[id]
		if k == nil {
			k = &checkedKey{id: id, project: pol.Project}
			byID[id] = k
			rep.keys = append(rep.keys, k)
		}
		k.profiles = append(k.profiles, p)
		if v.EffectivePolicy(doc).Proxy {
			k.proxyRequired = true
		}
	}
	sort.Slice(rep.keys, func(i, j int) bool { return rep.keys[i].profiles[0] < rep.keys[j].profiles[0] })
	if len(rep.keys) == 0 {
		return rep, nil
	}

	ids2 := make([]string, len(rep.keys))
	for i, k := range rep.keys {
		ids2[i] = k.id
	}
	buckets, err := client.CompletionsUsage(ctx, openai.UsageQuery{
		Start: start, BucketWidth: "1d", GroupBy: []string{"api_key_id", "project_id", "batch"}, APIKeyIDs: ids2,
	})
	if err != nil {
		return nil, &adminCallError{Step: "reading the completions usage", AdminProfile: adm.profile, Err: err}
	}
	provider := map[string]map[string]reconcile.Usage{} // key id → day → usage
	for _, b := range buckets {
		day := reconcile.Day(time.Unix(b.StartTime, 0))
		for _, r := range b.Results {
			k := byID[r.APIKeyID]
			if k == nil {
				continue // another key's usage (a server ignoring api_key_ids)
			}
			if k.project == "" {
				k.project = r.ProjectID
			}
			if provider[k.id] == nil {
				provider[k.id] = map[string]reconcile.Usage{}
			}
			u := provider[k.id][day]
			if r.Batch != nil && *r.Batch {
				u.BatchRequests += r.NumModelRequests
			} else {
				u.Requests += r.NumModelRequests
			}
			provider[k.id][day] = u
		}
	}

	// The ledger, from the day before: a request started then may have
	// run past midnight into the first day checked.
	if _, err := v.UsagePath(); err != nil {
		return nil, err
	}
	if why, err := proxy.LedgerProblem(v.Dir, now); err != nil {
		return nil, err
	} else if why != "" {
		fmt.Fprintf(a.Stderr, "okv: warning: %s: lines added to it could hide requests made behind okv's back\n", (&proxy.ErrLedgerTampered{Why: why}).Error())
	}
	recs, err := proxy.ReadLedger(v.Dir, start.Add(-24*time.Hour), now)
	if err != nil {
		return nil, err
	}
	byProfile := map[string][]proxy.Record{}
	for _, r := range recs {
		byProfile[r.Profile] = append(byProfile[r.Profile], r)
	}

	// The commands okv gave each profile's key to, per day.
	type pd struct{ profile, day string }
	handed := map[pd][]string{}
	audit, auditErr := v.ReadAudit()
	if auditErr != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: the audit log could not be read in full (%v): a finding may not say that okv gave the key out that day\n", auditErr)
	}
	for _, r := range audit {
		if !handOps[r.Op] || !slices.Contains(r.Secrets, defaultSecret) {
			continue
		}
		k := pd{r.Profile, reconcile.Day(r.Time)}
		handed[k] = append(handed[k], "okv "+r.Op)
	}

	for _, k := range rep.keys {
		var mine []proxy.Record
		for _, p := range k.profiles {
			mine = append(mine, byProfile[p]...)
		}
		k.days = reconcile.Compare(rep.days, provider[k.id], mine)
		for _, d := range k.days {
			if d.Extra == 0 {
				continue
			}
			f := usageFinding{key: k, day: d.Day, extra: d.Extra}
			seen := map[string]bool{}
			for _, p := range k.profiles {
				for _, op := range handed[pd{p, d.Day}] {
					f.handed++
					if !seen[op] {
						seen[op] = true
						f.ops = append(f.ops, op)
					}
				}
			}
			sort.Strings(f.ops)
			rep.findings = append(rep.findings, f)
		}
	}
	a.reconcileCosts(ctx, client, rep, recs, start)
	return rep, nil
}

// reconcileCosts adds each checked project's daily cost from OpenAI's
// costs report beside what okv's ledger priced. OpenAI reports costs per
// project and line item, never per key, so they make no finding: they
// show money spent in a project beyond what went through okv. A failure
// is a warning; the request counts decide the check.
func (a *App) reconcileCosts(ctx context.Context, client *openai.Client, rep *reconcileReport, recs []proxy.Record, start time.Time) {
	profilesOf := map[string][]string{}
	var projects []string
	for _, k := range rep.keys {
		if k.project == "" || openai.ValidateID("project id", k.project) != nil {
			continue
		}
		if profilesOf[k.project] == nil {
			projects = append(projects, k.project)
		}
		profilesOf[k.project] = append(profilesOf[k.project], k.profiles...)
	}
	if len(projects) == 0 {
		return
	}
	sort.Strings(projects)
	buckets, err := client.Costs(ctx, openai.CostsQuery{Start: start, GroupBy: []string{"project_id"}, ProjectIDs: projects})
	if err != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: reading the costs report failed: %v\n", err)
		return
	}
	type pday struct{ project, day string }
	costs := map[pday]*projectCost{}
	get := func(p, d string) *projectCost {
		c := costs[pday{p, d}]
		if c == nil {
			c = &projectCost{project: p, day: d}
			costs[pday{p, d}] = c
		}
		return c
	}
	for _, b := range buckets {
		day := reconcile.Day(time.Unix(b.StartTime, 0))
		for _, r := range b.Results {
			if profilesOf[r.ProjectID] == nil || (r.Amount.Currency != "" && r.Amount.Currency != "usd") {
				continue
			}
			get(r.ProjectID, day).openaiUSD += r.Amount.Value
		}
	}
	for _, p := range projects {
		in := map[string]bool{}
		for _, name := range profilesOf[p] {
			in[name] = true
		}
		for _, r := range recs {
			if !in[r.Profile] || r.Time.Before(start) || !reconcile.Counted(r) {
				continue
			}
			c := get(p, reconcile.Day(r.Time))
			if r.CostUSD != nil {
				c.okvUSD += *r.CostUSD
			} else if r.TotalTokens > 0 {
				c.okvUnpriced++
			}
		}
	}
	for _, p := range projects {
		for _, d := range rep.days {
			if c := costs[pday{p, d}]; c != nil {
				rep.costs = append(rep.costs, *c)
			}
		}
	}
}

// printFindings writes the findings and notes on stderr.
func (a *App) printFindings(rep *reconcileReport) {
	for _, u := range rep.unchecked {
		fmt.Fprintf(a.Stderr, "okv: note: not checked: %s\n", u)
	}
	for _, h := range rep.hints {
		fmt.Fprintf(a.Stderr, "okv: hint: %s\n", h)
	}
	for _, f := range rep.findings {
		where := strings.Join(f.key.profiles, ", ")
		rotate := "okv rotate -p " + f.key.profiles[0]
		n := plural(f.extra, "request", "requests")
		if !f.soft() {
			fmt.Fprintf(a.Stderr, "okv: warning: %s in %s: %s on %s not made through okv — if you did not make them, rotate now: %s\n",
				defaultSecret, where, n, f.day, rotate)
			continue
		}
		fmt.Fprintf(a.Stderr, "okv: warning: %s in %s: %s on %s not made through okv's proxy; okv gave the key to %s that day without the proxy (%s) and cannot tell their requests apart — if they were not yours, rotate now: %s\n",
			defaultSecret, where, n, f.day, plural(int64(f.handed), "command", "commands"), strings.Join(f.ops, ", "), rotate)
	}
	for _, f := range rep.findings {
		if f.soft() {
			fmt.Fprintf(a.Stderr, "okv: hint: with 'okv policy set -p %s proxy=true' every use of the key goes through the proxy, and this check is exact\n", f.key.profiles[0])
			break
		}
	}
}

// printReconcile writes the comparison table on stdout.
func (a *App) printReconcile(rep *reconcileReport) error {
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKEY\tDAY\tOPENAI\tOKV\tNOT THROUGH OKV")
	for _, k := range rep.keys {
		for _, d := range k.days {
			extra := strconv.FormatInt(d.Extra, 10)
			if d.BatchExplained {
				extra += " (batch jobs okv submitted not counted)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", strings.Join(k.profiles, ","), k.id, d.Day, d.Provider, d.Okv, extra)
		}
	}
	if len(rep.costs) > 0 {
		fmt.Fprintln(tw, "")
		fmt.Fprintln(tw, "PROJECT\tDAY\tOPENAI USD\tOKV USD\t")
		for _, c := range rep.costs {
			okvUSD := fmt.Sprintf("%.4f", c.okvUSD)
			if c.okvUnpriced > 0 {
				okvUSD += fmt.Sprintf(" + %s at no known price", plural(int64(c.okvUnpriced), "request", "requests"))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t\n", c.project, c.day, c.openaiUSD, okvUSD)
		}
	}
	return tw.Flush()
}

// plural: "1 request", "1,240 requests".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return groupDigits(n) + " " + many
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// runUsageCheck is `okv usage --remote --check`: the comparison for the
// last days days, exit 1 on a finding that is not soft.
func (a *App) runUsageCheck(days int, adm adminOptions) error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	only, err := a.explicitProfile(v)
	if err != nil {
		return err
	}
	ids, err := a.unlock(v)
	if err != nil {
		return cronUnlockHint(err)
	}
	rep, err := a.reconcileUsage(v, ids, only, days, adm, "okv usage --remote --check")
	if err != nil {
		return err
	}
	if len(rep.keys) == 0 && len(rep.unchecked) == 0 {
		return withHints(errors.New("no profile holds an OPENAI_API_KEY to check"), "store one with 'okv set -p PROFILE'")
	}
	if err := a.printReconcile(rep); err != nil {
		return err
	}
	a.printFindings(rep)
	if rep.hard() > 0 {
		return &silentError{code: exitError}
	}
	return nil
}

// cronUnlockHint adds, to a prompt that could not be shown, how to
// unlock without one.
func cronUnlockHint(err error) error {
	if errors.Is(err, vault.ErrNoTerminal) {
		return &hintError{err: err, code: exitLocked, hints: []string{
			"for cron, unlock with an age identity file instead: --identity FILE or OKV_IDENTITY_FILE",
		}}
	}
	return err
}

// statusUsageCheck is okv status --check's part: the reconciliation of the
// last days days, findings on stderr. It reports whether a finding fails
// the check. Without the admin profile (the default one, not named with
// --admin-profile) there is nothing to ask OpenAI with, and it checks
// nothing.
func (a *App) statusUsageCheck(v *vault.Vault, ids []ageIdentity, days int, adm adminOptions, adminNamed bool) (bool, error) {
	adm = adm.withDefaults(a.Getenv)
	if !adminNamed && !v.HasProfile(adm.profile) {
		return false, nil
	}
	only := ""
	if a.profileFlag != "" {
		var err error
		if only, err = a.profile(v); err != nil {
			return false, err
		}
	}
	rep, err := a.reconcileUsage(v, ids, only, days, adm, "okv status --check")
	if err != nil {
		return false, err
	}
	a.printFindings(rep)
	if len(rep.findings) == 0 && len(rep.keys) > 0 {
		fmt.Fprintf(a.Stderr, "okv: OpenAI's usage of %s on the last %s matches what okv made\n",
			plural(int64(len(rep.keys)), "key", "keys"), plural(int64(len(rep.days)), "day", "days"))
	}
	return rep.hard() > 0, nil
}
