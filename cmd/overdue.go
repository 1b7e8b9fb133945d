package cmd

import (
	"fmt"
	"time"

	"github.com/okvault/okv/vault"
)

// warnOverdue prints one warning line per overdue key of doc on stderr, at
// most once a day per profile (the day is kept in the vault's state.json).
// It never fails the command: a key past its rotation period still works.
func (a *App) warnOverdue(v *vault.Vault, profile string, doc *vault.Document) {
	pol := v.Config.Policy(profile)
	now := a.Now()
	overdue := doc.Overdue(pol.EffectiveMaxAge(), now)
	if len(overdue) == 0 {
		return
	}
	day := now.Format("2006-01-02")
	if v.OverdueWarnedOn(profile, day) {
		return
	}
	first, err := v.MarkOverdueWarned(profile, day)
	if err != nil {
		// Better a warning too many than none.
		first = true
	}
	if !first {
		return
	}
	for _, o := range overdue {
		fmt.Fprintf(a.Stderr, "okv: warning: %s\n", overdueText(o, profile, pol))
	}
}

// overdueText: "OPENAI_API_KEY in profile prod is 97 days old (max 90d):
// rotate it with 'okv rotate OPENAI_API_KEY -p prod'".
func overdueText(o vault.OverdueSecret, profile string, pol vault.Policy) string {
	return fmt.Sprintf("%s in profile %s is %s old (max %s): rotate it with 'okv rotate %s -p %s'",
		o.Name, profile, ageWords(o.Age), vault.Duration(pol.EffectiveMaxAge()), o.Name, profile)
}

// ageWords says an age in whole days, or hours under two days.
func ageWords(d time.Duration) string {
	h := int(d.Hours())
	switch {
	case h >= 48:
		return fmt.Sprintf("%d days", h/24)
	case h == 1:
		return "1 hour"
	default:
		return fmt.Sprintf("%d hours", h)
	}
}
