package cmd

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/vault"
)

type logOptions struct {
	since  string
	ops    []string
	json   bool
	verify bool
}

func (a *App) newLogCmd() *cobra.Command {
	var o logOptions
	c := &cobra.Command{
		Use:   "log",
		Short: "Show the audit log, or check that it is intact",
		Long: `Show the audit log: when each profile was used or changed, by which command,
from which folder. It never holds a value. Filter with -p/--profile, --op and
--since; --json prints one JSON record per line.

Every record carries a MAC keyed by your identity over itself and the record
before it, and audit.head anchors the log's end. --verify (which unlocks)
checks both, and names each line that was edited, forged, deleted, inserted or
reordered, and records cut from the end.`,
		Example: `  okv log --since 24h
  okv log -p prod --op run,get --json
  okv log --verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.verify {
				if o.since != "" || len(o.ops) > 0 || o.json || a.profileFlag != "" {
					return &usageError{msg: "--verify checks the whole log and takes no filter or --json"}
				}
				return a.runLogVerify()
			}
			return a.runLog(o)
		},
	}
	c.Flags().StringVar(&o.since, "since", "", "only records newer than this (like 24h, 7d)")
	c.Flags().StringSliceVar(&o.ops, "op", nil, "only these operations (comma-separated: run, get, set, rm, rotate, rollback, verify, admin, profile-…)")
	c.Flags().BoolVar(&o.json, "json", false, "print JSON lines")
	c.Flags().BoolVar(&o.verify, "verify", false, "check the MAC chain and its head anchor; exit 1 when broken")
	return c
}

func (a *App) runLog(o logOptions) error {
	var cutoff time.Time
	if o.since != "" {
		d, err := vault.ParseDuration(o.since)
		if err != nil {
			return usagef("--since: %v", err)
		}
		cutoff = a.Now().Add(-time.Duration(d))
	}
	ops := map[string]bool{}
	for _, op := range o.ops {
		if op = strings.TrimSpace(op); op != "" {
			if !slices.Contains(auditOps, op) {
				return usagef("--op %q: not an operation okv records (known: %s)", op, strings.Join(auditOps, ", "))
			}
			ops[op] = true
		}
	}
	if a.profileFlag != "" {
		if err := vault.ValidateProfileName(a.profileFlag); err != nil {
			return err
		}
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	records, err := v.ReadAudit()
	if err != nil {
		return withHints(err, "check the log with 'okv log --verify'")
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	if !o.json {
		fmt.Fprintln(tw, "TIME\tPROFILE\tOP\tSECRETS\tCOMMAND\tDIR")
	}
	for _, r := range records {
		switch {
		case !cutoff.IsZero() && r.Time.Before(cutoff),
			len(ops) > 0 && !ops[r.Op],
			a.profileFlag != "" && r.Profile != a.profileFlag:
			continue
		}
		if o.json {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(a.Stdout, "%s\n", b); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05"),
			dash(r.Profile), r.Op, dash(strings.Join(r.Secrets, ",")), dash(r.Command), dash(r.Dir))
	}
	if o.json {
		return nil
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *App) runLogVerify() error {
	v, err := a.openVault()
	if err != nil {
		return err
	}
	ids, err := a.unlock(v)
	if err != nil {
		return withHints(err, "the log is keyed with your identity: checking it needs the vault unlocked")
	}
	c, err := v.VerifyAudit(v.AuditKeys(ids))
	if err != nil {
		return err
	}
	if len(c.Breaks) == 0 {
		fmt.Fprintf(a.Stdout, "audit log intact: %d record(s), %s\n", c.Records, auditSummary(c))
		return nil
	}
	for _, b := range c.Breaks {
		if b.Line == 0 {
			fmt.Fprintf(a.Stdout, "end: %s\n", b.Reason)
			continue
		}
		fmt.Fprintf(a.Stdout, "line %d: %s\n", b.Line, b.Reason)
	}
	return withHints(fmt.Errorf("the audit log %s is not intact: %s", v.AuditPath(), auditBreaks(c)),
		"someone or something changed the file outside okv: compare it with a backup",
		"to start a new log once you know why, move audit.jsonl and audit.head aside")
}

// auditSummary says how much of an intact log is authenticated.
func auditSummary(c vault.AuditCheck) string {
	switch {
	case c.Records == 0:
		return "nothing to check"
	case c.Keyed == 0:
		return fmt.Sprintf("hash chain verified, but none is authenticated yet: %d legacy record(s) from an older okv, which anyone can rewrite (the next record okv writes is keyed)", c.Legacy)
	case c.Legacy > 0:
		return fmt.Sprintf("MAC chain verified, head anchored; the first %d are legacy records from an older okv, covered by the chain from the first keyed record on", c.Legacy)
	}
	return "MAC chain verified, head anchored"
}

// auditBreaks says how many breaks and where the first is.
func auditBreaks(c vault.AuditCheck) string {
	first := "at its end"
	if l := c.Breaks[0].Line; l > 0 {
		first = fmt.Sprintf("first at line %d", l)
	}
	return fmt.Sprintf("%d break(s), %s", len(c.Breaks), first)
}

// auditOps are the operations okv writes to the audit log.
var auditOps = []string{
	"admin", "expire-idle", "expire-max", "expire-session", "export", "get",
	"import", "lock", "policy-set", "policy-unset",
	"profile-copy", "profile-create", "profile-rename", "profile-rm", "proxy",
	"recipient-add", "recipient-rm", "rm", "rollback", "rotate", "run",
	"run-proxy", "set", "unlock", "use", "verify",
}
