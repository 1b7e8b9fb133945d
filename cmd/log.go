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

Every record carries the hash of the one before it. --verify checks that chain
and names each line that was edited, deleted, inserted or reordered.`,
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
	c.Flags().BoolVar(&o.verify, "verify", false, "check the hash chain; exit 1 when it is broken")
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
	n, breaks, err := v.VerifyAudit()
	if err != nil {
		return err
	}
	if len(breaks) == 0 {
		fmt.Fprintf(a.Stdout, "audit log intact: %d record(s), hash chain verified\n", n)
		return nil
	}
	for _, b := range breaks {
		fmt.Fprintf(a.Stdout, "line %d: %s\n", b.Line, b.Reason)
	}
	return withHints(fmt.Errorf("the audit log %s is not intact: %d break(s) in the hash chain, first at line %d", v.AuditPath(), len(breaks), breaks[0].Line),
		"someone or something changed the file outside okv: compare it with a backup",
		"new records keep being chained to the last line")
}

// auditOps are the operations okv writes to the audit log.
var auditOps = []string{
	"admin", "export", "get", "import", "policy-set", "policy-unset",
	"profile-copy", "profile-create", "profile-rename", "profile-rm", "proxy",
	"recipient-add", "recipient-rm", "rm", "rollback", "rotate", "run",
	"run-proxy", "set", "use", "verify",
}
