package cmd

import (
	"errors"
	"fmt"
	"sort"

	"github.com/okvault/okv/vault"
)

// refUse is a reference and where it was written ("file:line", or "" for
// one given on the command line).
type refUse struct {
	ref   vault.Ref
	where string
}

// refMissingError: a reference names a profile or secret the vault does
// not hold; where says the file and line.
type refMissingError struct {
	where string
	ref   vault.Ref
	err   error
}

func (e *refMissingError) Error() string {
	if e.where == "" {
		return fmt.Sprintf("%s: %v", e.ref, e.err)
	}
	return fmt.Sprintf("%s: %s: %v", e.where, e.ref, e.err)
}

func (e *refMissingError) Unwrap() error { return e.err }

// resolvedRefs holds the values of a set of references, and what the
// audit log records of them.
type resolvedRefs struct {
	v      *vault.Vault
	values map[vault.Ref]string // keyed with the profile filled in
	// defaultProfile is what okv://NAME resolved to ("" when unused).
	defaultProfile string
	names          map[string][]string // profile → secret names used
	// uses is each profile's document and effective policy, for the check
	// of resolveRefsChecked (before confirmation; nil in its result).
	uses map[string]*vault.Use
}

// value is ref's secret; okv://NAME is looked up in the resolved profile.
func (r *resolvedRefs) value(ref vault.Ref) string {
	if ref.Profile == "" {
		ref.Profile = r.defaultProfile
	}
	return r.values[ref]
}

// resolveRefs opens every profile the references name through the one use
// path (vault.Env.UseProfile: trust, pins, unlock, confirm), so the vault
// unlocks once for all of them and a protected profile still asks, naming
// purpose. okv://NAME takes the resolved profile. Every reference is
// checked before anything is returned: the first missing one is an error
// naming where it was written.
func (a *App) resolveRefs(uses []refUse, purpose string) (*resolvedRefs, error) {
	return a.resolveRefsChecked(uses, purpose, nil)
}

// resolveRefsChecked is resolveRefs with check run on what the references
// would resolve to (each profile's document and effective policy, the
// values) once every name is found and before anyone is asked to confirm:
// a use that check refuses is refused before a protected profile asks.
func (a *App) resolveRefsChecked(uses []refUse, purpose string, check func(*resolvedRefs) error) (*resolvedRefs, error) {
	v, err := a.openVault()
	if err != nil {
		return nil, err
	}
	var def *vault.Resolution
	profiles := map[string]vault.Resolution{}
	for i, u := range uses {
		if u.ref.Profile == "" {
			if def == nil {
				r, err := a.env().ResolveProfile(v)
				if err != nil {
					return nil, err
				}
				def = &r
			}
			uses[i].ref.Profile = def.Name
			profiles[def.Name] = *def
			continue
		}
		if _, ok := profiles[u.ref.Profile]; ok {
			continue
		}
		if !v.HasProfile(u.ref.Profile) {
			return nil, &refMissingError{where: u.where, ref: u.ref, err: &vault.ProfileNotFoundError{Name: u.ref.Profile}}
		}
		profiles[u.ref.Profile] = vault.Resolution{Name: u.ref.Profile, Source: "okv://"}
	}
	order := make([]string, 0, len(profiles))
	for p := range profiles {
		order = append(order, p)
	}
	sort.Strings(order)
	docs := map[string]*vault.Document{}
	req := vault.UseRequest{Purpose: purpose, Unlocker: a.unlocker(), Confirm: a.confirm, Yes: a.yes}
	// Names first, then confirmation: a typo is reported before anyone is
	// asked to approve a use that cannot happen.
	ids, err := a.unlocker().Identities(v)
	if err != nil {
		return nil, err
	}
	for _, p := range order {
		doc, err := v.Load(p, ids)
		if err != nil {
			return nil, err
		}
		docs[p] = doc
	}
	for _, u := range uses {
		if _, err := docs[u.ref.Profile].Secret(u.ref.Name); err != nil {
			return nil, &refMissingError{where: u.where, ref: u.ref, err: err}
		}
	}
	if check != nil {
		pre := &resolvedRefs{v: v, values: map[vault.Ref]string{}, uses: map[string]*vault.Use{}}
		if def != nil {
			pre.defaultProfile = def.Name
		}
		for _, p := range order {
			pre.uses[p] = &vault.Use{Vault: v, Profile: p, Doc: docs[p], Policy: v.EffectivePolicy(docs[p])}
		}
		for _, u := range uses {
			sec, _ := docs[u.ref.Profile].Secret(u.ref.Name)
			pre.values[u.ref] = sec.Value
		}
		if err := check(pre); err != nil {
			return nil, err
		}
	}
	out := &resolvedRefs{v: v, values: map[vault.Ref]string{}, names: map[string][]string{}}
	if def != nil {
		out.defaultProfile = def.Name
	}
	for _, p := range order {
		use, err := a.env().UseProfile(v, profiles[p], req)
		if err != nil {
			return nil, err
		}
		docs[p] = use.Doc
	}
	seen := map[vault.Ref]bool{}
	for _, u := range uses {
		s, err := docs[u.ref.Profile].Secret(u.ref.Name)
		if err != nil {
			return nil, &refMissingError{where: u.where, ref: u.ref, err: err}
		}
		out.values[u.ref] = s.Value
		if !seen[u.ref] {
			seen[u.ref] = true
			out.names[u.ref.Profile] = append(out.names[u.ref.Profile], u.ref.Name)
		}
	}
	return out, nil
}

// audit records one line per profile used.
func (r *resolvedRefs) audit(a *App, op, command string) {
	ps := make([]string, 0, len(r.names))
	for p := range r.names {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		names := append([]string(nil), r.names[p]...)
		sort.Strings(names)
		a.audit(r.v, op, p, names, command)
	}
}

// isRefMissing reports whether err is a reference to something absent.
func isRefMissing(err error) bool {
	var m *refMissingError
	return errors.As(err, &m)
}
