package vault

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

// Env is what the decision "may this profile be used here, and how" needs
// from the outside: the environment, the working folder, the -p flag, and
// a way to tell the user one line (on stderr, never stdout).
type Env struct {
	Getenv      func(string) string
	Cwd         string
	ProfileFlag string
	Now         func() time.Time
	PluginUI    *plugin.ClientUI
	Notify      func(line string)

	// Filled in by OpenVault.
	Location Location
	trusted  bool // the project vault passed the trust store (not OKV_TRUST)
}

// trustOverride is OKV_TRUST=1: trust what this command finds, for this
// command only (CI, which has no personal vault to record trust in).
func (e *Env) trustOverride() bool { return e.Getenv("OKV_TRUST") == "1" }

func (e *Env) notify(format string, args ...any) {
	if e.Notify != nil {
		e.Notify(fmt.Sprintf(format, args...))
	}
}

// TrustStore is the personal vault's trust record.
func (e *Env) TrustStore() *TrustStore {
	d, err := PersonalDir(e.Getenv)
	if err != nil {
		return &TrustStore{}
	}
	return &TrustStore{Dir: d}
}

// NotProjectError: a .okv folder found from the working folder that holds
// a personal vault (a backend and an identity of its own): a cloned
// repository must not choose which keychain item okv unlocks.
type NotProjectError struct{ Dir string }

func (e *NotProjectError) Error() string {
	return fmt.Sprintf("%s is not a project vault (it names a backend of its own); okv uses only project vaults found from the working folder", e.Dir)
}

// OpenVault opens the vault a command uses ($OKV_HOME, else the nearest
// .okv/, else the personal vault). A project vault found from the working
// folder is used only when trusted: see TrustStore and OKV_TRUST. An
// unfinished change (see journalFile) is completed once the vault is
// trusted.
func (e *Env) OpenVault() (*Vault, error) {
	loc, err := Locate(e.Getenv, e.Cwd)
	if err != nil {
		return nil, err
	}
	e.Location = loc
	v, err := Open(loc.Dir)
	if err != nil {
		return nil, err
	}
	if e.Now != nil {
		v.Now = e.Now
	}
	v.PluginUI = e.PluginUI
	if err := e.checkTrust(v); err != nil {
		return nil, err
	}
	if v.HasUnfinishedChange() {
		if err := v.Recover(); err != nil {
			return nil, err
		}
		// The completed change may be one the trust did not cover.
		if err := e.checkTrust(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (e *Env) checkTrust(v *Vault) error {
	if e.Location.Source != "project" {
		return nil
	}
	if !v.Config.IsProject() {
		return &NotProjectError{Dir: v.Dir}
	}
	if e.trustOverride() {
		e.notify("okv: trusting %s for this command (OKV_TRUST=1)", v.Dir)
		return nil
	}
	err := e.TrustStore().CheckVault(v)
	if errors.Is(err, ErrNoTrustStore) {
		return &UntrustedError{Path: v.Dir}
	}
	if err == nil {
		e.trusted = true
	}
	return err
}

// TrustedBy says why the project vault in use is trusted, for doctor:
// "your trust record", "OKV_TRUST=1", or "" when no trust was needed.
func (e *Env) TrustedBy() string {
	switch {
	case e.Location.Source != "project":
		return ""
	case e.trusted:
		return "your trust record"
	}
	return "OKV_TRUST=1"
}

// Retrust records v again after okv itself changed what the trust covers
// (a policy, recipients, profiles), when v had passed the trust store.
func (e *Env) Retrust(v *Vault) error {
	if !e.trusted {
		return nil
	}
	return e.TrustStore().TrustVault(v)
}

// ResolveProfile picks the profile (see the package's ResolveProfile),
// checks that it exists, and uses a .okv-profile only when trusted. A pin
// that selects another profile than the default says so.
func (e *Env) ResolveProfile(v *Vault) (Resolution, error) {
	r, err := ResolveProfile(e.ProfileFlag, e.Getenv, e.Cwd, v.Config)
	if err != nil {
		return r, err
	}
	if r.IsPin() {
		if e.trustOverride() {
			e.notify("okv: trusting %s for this command (OKV_TRUST=1)", r.Source)
		} else if err := e.TrustStore().CheckPin(r.Source, v.Dir, r.Name); err != nil {
			if errors.Is(err, ErrNoTrustStore) {
				err = &UntrustedError{Path: r.Source, Pin: true}
			}
			return r, err
		}
		if r.Name != v.Config.DefaultProfile {
			e.notify("okv: using profile %s from %s", r.Name, r.Source)
		}
	}
	if !v.HasProfile(r.Name) {
		return r, &ProfileNotFoundError{Name: r.Name, Source: r.Source}
	}
	return r, nil
}

// IsPin reports whether a .okv-profile chose the profile.
func (r Resolution) IsPin() bool { return filepath.Base(r.Source) == ProfileFileName }

// ConfirmFunc asks the user a yes/no question on the terminal; it returns
// ErrNoTerminal when there is none.
type ConfirmFunc func(question string) (bool, error)

// UseRequest says what a command wants to do with a profile.
type UseRequest struct {
	// Purpose is what the profile's secrets are used for (a command name
	// or an action), asked about when the profile is protected; "" for
	// commands that only change the vault.
	Purpose  string
	Unlocker *Unlocker
	Confirm  ConfirmFunc
	Yes      bool // --yes: confirmed without asking
}

// Use is the answer: the profile may be used, and how.
type Use struct {
	Vault   *Vault
	Profile string
	Source  string // what selected it
	IDs     []age.Identity
	Doc     *Document
	// Policy is the policy in effect: config.toml's agreeing with the pin
	// inside the document.
	Policy Policy
	getenv func(string) string
}

// ConfirmRequiredError: a protected profile, no terminal to confirm on,
// and no --yes.
type ConfirmRequiredError struct{ Profile string }

func (e *ConfirmRequiredError) Error() string {
	return fmt.Sprintf("profile %s is protected and there is no terminal to confirm on", e.Profile)
}

// NotConfirmedError: the user said no.
type NotConfirmedError struct{ Profile string }

func (e *NotConfirmedError) Error() string {
	return fmt.Sprintf("not confirmed: profile %s was not used", e.Profile)
}

// Use decides whether the selected profile may be used here, and how:
// the vault is trusted (OpenVault), the profile's folder pin is trusted
// (ResolveProfile), it unlocks, config.toml agrees with the policy pinned
// in the document, and a protected profile is confirmed. Every command
// that hands out a profile's secrets goes through here.
func (e *Env) Use(req UseRequest) (*Use, error) {
	v, err := e.OpenVault()
	if err != nil {
		return nil, err
	}
	r, err := e.ResolveProfile(v)
	if err != nil {
		return nil, err
	}
	return e.UseProfile(v, r, req)
}

// UseProfile is Use for a vault and profile already opened and resolved.
func (e *Env) UseProfile(v *Vault, r Resolution, req UseRequest) (*Use, error) {
	ids, err := req.Unlocker.Identities(v)
	if err != nil {
		return nil, err
	}
	doc, err := v.Load(r.Name, ids)
	if err != nil {
		return nil, err
	}
	if err := v.CheckPolicy(doc); err != nil {
		return nil, err
	}
	if _, full := doc.pinOf(); !full && !v.Config.IsProject() {
		// A personal profile written before pins: pin its policy now, as
		// it is trusted, so a later edit of config.toml cannot weaken it.
		// (A project profile is pinned by its next change, not by a read,
		// which would leave a diff in everyone's checkout.)
		if err := v.Update(r.Name, ids, func(*Document) error { return nil }); err != nil {
			return nil, err
		}
		if doc, err = v.Load(r.Name, ids); err != nil {
			return nil, err
		}
	}
	u := &Use{Vault: v, Profile: r.Name, Source: r.Source, IDs: ids, Doc: doc, Policy: v.EffectivePolicy(doc), getenv: e.Getenv}
	if req.Purpose != "" && u.Policy.Confirm && !req.Yes {
		if req.Confirm == nil {
			return nil, &ConfirmRequiredError{Profile: r.Name}
		}
		ok, err := req.Confirm(fmt.Sprintf("okv: profile %s is protected. Use it for %s?", r.Name, req.Purpose))
		if errors.Is(err, ErrNoTerminal) {
			return nil, &ConfirmRequiredError{Profile: r.Name}
		}
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &NotConfirmedError{Profile: r.Name}
		}
	}
	return u, nil
}

// Upstream is where this profile's keys may be sent: see Upstream.
func (u *Use) Upstream() (string, error) { return Upstream(u.Policy.Upstream, u.getenv) }

// RecipientCount is how many recipients the profile is encrypted to.
func (u *Use) RecipientCount() int { return len(u.Vault.RecipientStrings(u.Profile)) }
