package cmd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/okvault/okv/adopt"
	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/vault"
)

// strayKey is a provider key in okv's own environment that okv did not
// put there: the user's shell exports it, so every program they start
// holds it.
type strayKey struct {
	Var      string
	Provider string
	From     []string // rc files that export it (file:line), when found
	value    string
}

// strayEnvKeys lists them. A process started by okv run or okv shell
// (OKV_PROFILE set) got its keys from okv. With locate, the rc files and
// ~/.config are searched (as okv adopt does, for a few seconds at most) to
// name the file that exports the key: okv doctor and okv status do, okv
// run does not (it would delay the child).
func (a *App) strayEnvKeys(locate bool) []strayKey {
	if a.Getenv("OKV_PROFILE") != "" {
		return nil
	}
	var out []strayKey
	for _, kv := range a.Environ() {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if ms := scan.FindKeys([]byte(val)); len(ms) > 0 {
			p, _ := scan.RuleProvider(ms[0].Rule)
			out = append(out, strayKey{Var: name, Provider: p, value: val})
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Var < out[j].Var })
	home := a.Getenv("HOME")
	if home == "" || !locate {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, _ := adopt.Find(ctx, adopt.Options{Home: home})
	for _, f := range res.Files {
		if f.Kind.IsHistory() {
			continue // a history does not export anything
		}
		for _, fd := range f.Findings {
			for i := range out {
				if strings.Contains(out[i].value, fd.Value) {
					out[i].From = append(out[i].From, fmt.Sprintf("%s:%d", a.tilde(f.Path), fd.Line))
				}
			}
		}
	}
	return out
}

// strayText says one stray key in words.
func (s strayKey) text() string {
	t := fmt.Sprintf("okv was started with %s (%s key) in its environment, not from okv: every program your shell starts holds it", s.Var, s.Provider)
	if len(s.From) > 0 {
		t += "; it is exported by " + strings.Join(s.From, ", ")
	}
	return t
}

const strayFix = "move it into okv with 'okv adopt', then open a new shell (or 'unset' it)"

// warnStrayEnvDaily is okv run's warning about stray keys, once a day
// (the day is kept in the vault's state.json).
func (a *App) warnStrayEnvDaily(v *vault.Vault) {
	day := a.Now().Format("2006-01-02")
	if a.Getenv("OKV_PROFILE") != "" || v.StrayEnvWarnedOn(day) {
		return
	}
	stray := a.strayEnvKeys(false)
	if len(stray) == 0 {
		return
	}
	if first, err := v.MarkStrayEnvWarned(day); err == nil && !first {
		return
	}
	for _, s := range stray {
		fmt.Fprintf(a.Stderr, "okv: warning: %s\n", s.text())
	}
	fmt.Fprintf(a.Stderr, "okv: hint: %s (this warning is shown once a day; 'okv doctor' names the file that exports it)\n", strayFix)
}
