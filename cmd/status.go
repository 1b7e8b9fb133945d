package cmd

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

// usedOps are the audit operations that hand a secret's value to a
// program or an API.
var usedOps = map[string]bool{"run": true, "get": true, "export": true, "proxy": true, "verify": true, "admin": true, "read": true, "inject": true}

func (a *App) newStatusCmd() *cobra.Command {
	var check bool
	var checkDays int
	var adm adminOptions
	c := &cobra.Command{
		Use:   "status",
		Short: "Every profile's keys: redacted value, age, last use, rotation due",
		Long: `Show every profile's keys (only one profile's with -p/--profile): redacted
value, age of the current value, the profile's rotation period (its 'max_age'
policy, default 90d, set with 'okv policy'), when the key was last used (from
the audit log) and whether its rotation is overdue. 'okv run' also warns about
an overdue key, once a day per profile.

With --check, exit 1 when any key is overdue, for cron jobs and CI. When the
admin profile holds OPENAI_ADMIN_KEY, --check also compares OpenAI's usage
of every OPENAI_API_KEY over the last --check-days UTC days with what okv's
proxy made (see 'okv usage --remote --check') and exits 1 on requests okv
did not make (unless okv gave the key to a command without the proxy that
day and the profile is not pinned to proxy mode: then it only warns). It
never prompts without a terminal: a vault that needs a
passphrase then fails (exit 3); unlock it with 'okv unlock' or an identity
file. Exit 0: all well; 1: an overdue key, a finding or an error; 3: locked.`,
		Example: `  okv status
  okv status --check -p prod
  okv status --check || notify-send okv "check okv status"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if checkDays < 1 {
				return usagef("--check-days %d: want 1 or more", checkDays)
			}
			return a.runStatus(check, statusUsage{days: checkDays, adm: adm, adminNamed: cmd.Flags().Changed("admin-profile")})
		},
	}
	c.Flags().BoolVar(&check, "check", false, "exit 1 when any key is overdue for rotation, or was used behind okv's back")
	c.Flags().IntVar(&checkDays, "check-days", 2, "with --check: UTC days of OpenAI usage to compare with okv's ledger, today included")
	addAdminFlags(c, &adm)
	return c
}

type secretKey struct{ profile, name string }

// statusUsage is how okv status --check reconciles usage.
type statusUsage struct {
	days       int
	adm        adminOptions
	adminNamed bool // --admin-profile was given: its absence is an error
}

func (a *App) runStatus(check bool, su statusUsage) error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "okv: using the %s\n", a.vaultLabel(v))
	if line := a.agentStatus(v); line != "" {
		fmt.Fprintln(a.Stderr, line)
	}
	for _, k := range a.strayEnvKeys(true) {
		fmt.Fprintf(a.Stderr, "okv: warning: %s\n", k.text())
		fmt.Fprintf(a.Stderr, "okv: hint: %s\n", strayFix)
	}
	var profiles []string
	if a.profileFlag != "" {
		p, err := a.profile(v)
		if err != nil {
			return err
		}
		profiles = []string{p}
	} else if profiles, err = v.ProfileNames(); err != nil {
		return err
	}
	ids, err := a.unlock(v)
	if err != nil {
		return cronUnlockHint(err)
	}
	lastUsed := map[secretKey]time.Time{}
	records, auditErr := v.ReadAudit()
	for _, r := range records {
		if !usedOps[r.Op] {
			continue
		}
		for _, s := range r.Secrets {
			k := secretKey{r.Profile, s}
			if r.Time.After(lastUsed[k]) {
				lastUsed[k] = r.Time
			}
		}
	}
	if auditErr != nil {
		fmt.Fprintf(a.Stderr, "okv: warning: last use is incomplete: %v\n", auditErr)
	}

	now := a.Now()
	var overdue []string
	var firstErr error
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tNAME\tVALUE\tAGE\tMAX AGE\tLAST USED\tROTATION")
	for _, p := range profiles {
		doc, err := v.Load(p, ids)
		if err != nil {
			msg, _, _ := a.explain(err)
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\terror: %s\n", p, msg)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		maxAge := v.Config.Policy(p).EffectiveMaxAge()
		for _, n := range doc.Names() {
			s := doc.Secrets[n]
			state := "ok"
			if s.IsOverdue(maxAge, now) {
				state = "OVERDUE"
				overdue = append(overdue, fmt.Sprintf("okv rotate %s -p %s", n, p))
			} else if left := maxAge - s.Age(now); left < 14*24*time.Hour {
				state = "due in " + humanAge(left)
			}
			used := "never"
			if t, ok := lastUsed[secretKey{p, n}]; ok {
				used = humanAge(now.Sub(t)) + " ago"
				if now.Sub(t) < time.Minute {
					used = "just now"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p, n, vault.Redact(s.Value), humanAge(s.Age(now)), vault.Duration(maxAge), used, state)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := a.printSpend(v, profiles, now); err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	if check {
		failed, err := a.statusUsageCheck(v, ids, su.days, su.adm, su.adminNamed)
		if err != nil {
			return err
		}
		if failed && len(overdue) == 0 {
			return &silentError{code: exitError}
		}
	}
	if check && len(overdue) > 0 {
		return withHints(fmt.Errorf("%d key(s) overdue for rotation", len(overdue)), "rotate with: "+strings.Join(overdue, "; "))
	}
	return nil
}

// printSpend shows, for each profile with a budget, what it spent today
// and this month (UTC, the proxy's ledger) against each budget.
func (a *App) printSpend(v *vault.Vault, profiles []string, now time.Time) error {
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	header := false
	for _, p := range profiles {
		pol := v.Config.Policy(p)
		day, month := budgetNames(pol)
		if len(day)+len(month) == 0 {
			continue
		}
		s, err := proxy.ProfileSpend(v.Dir, p, now)
		if err != nil {
			return err
		}
		if !header {
			fmt.Fprintln(tw, "\nPROFILE\tSPENT\tTOKENS\tDOLLARS\tBUDGETS")
			header = true
		}
		fmt.Fprintf(tw, "%s\ttoday\t%d\t$%.2f\t%s\n", p, s.Tokens, s.DayUSD, strings.Join(day, ", "))
		fmt.Fprintf(tw, "%s\tthis month\t%d\t$%.2f\t%s\n", p, s.MonthTokens, s.MonthUSD, strings.Join(month, ", "))
	}
	return tw.Flush()
}

// budgetNames are a policy's budgets per day and per month, as policy
// keys with their values ("daily_usd 5.00", "anthropic.daily_tokens
// 100000").
func budgetNames(pol vault.Policy) (day, month []string) {
	add := func(prefix string, l limits.Limits) {
		if l.DailyTokens > 0 {
			day = append(day, fmt.Sprintf("%sdaily_tokens %d", prefix, l.DailyTokens))
		}
		if l.DailyUSD > 0 {
			day = append(day, fmt.Sprintf("%sdaily_usd %.2f", prefix, l.DailyUSD))
		}
		if l.WarnUSD > 0 {
			day = append(day, fmt.Sprintf("%swarn_usd %.2f", prefix, l.WarnUSD))
		}
		if l.MonthlyUSD > 0 {
			month = append(month, fmt.Sprintf("%smonthly_usd %.2f", prefix, l.MonthlyUSD))
		}
	}
	add("", pol.Limits)
	for _, name := range slices.Sorted(maps.Keys(pol.Providers)) {
		add(name+".", pol.Providers[name].Limits)
	}
	return day, month
}
