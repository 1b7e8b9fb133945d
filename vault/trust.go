package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
)

// trustFile is where the personal vault records the project vaults and
// .okv-profile pins its owner trusted with okv trust. It holds no secret:
// what was shown and accepted, so that a later change can be named.
const trustFile = "trust.json"

// TrustStore is the personal vault's record of trusted project vaults and
// folder pins.
type TrustStore struct{ Dir string } // the personal vault's folder

type trustDoc struct {
	Okv    int                      `json:"okv"`
	Vaults map[string]VaultSnapshot `json:"vaults,omitempty"` // by .okv folder
	Pins   map[string]PinSnapshot   `json:"pins,omitempty"`   // by .okv-profile path
}

// VaultSnapshot is what decides where a project vault's keys go, as
// config.toml says it: its identity, default profile, and each profile's
// recipients and policy (which must in turn agree with each profile's
// encrypted pin, so trusting config.toml's covers the pins).
type VaultSnapshot struct {
	VaultID        string                     `json:"vault_id"`
	Kind           string                     `json:"kind,omitempty"`
	DefaultProfile string                     `json:"default_profile"`
	Profiles       map[string]ProfileSnapshot `json:"profiles"`
}

// ProfileSnapshot is one profile's part of a VaultSnapshot.
type ProfileSnapshot struct {
	Recipients []string `json:"recipients,omitempty"`
	Policy     Pin      `json:"policy"`
}

// PinSnapshot is a trusted .okv-profile: the profile it names, in the
// vault it was trusted for.
type PinSnapshot struct {
	Vault   string `json:"vault"`
	Profile string `json:"profile"`
}

// Snapshot describes v for trust: see VaultSnapshot.
func (v *Vault) Snapshot() VaultSnapshot {
	s := VaultSnapshot{VaultID: v.Config.VaultID, Kind: v.Config.Kind, DefaultProfile: v.Config.DefaultProfile, Profiles: map[string]ProfileSnapshot{}}
	names, _ := v.ProfileNames()
	for n := range v.Config.Profiles {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		s.Profiles[n] = ProfileSnapshot{Recipients: v.RecipientStrings(n), Policy: PinOf(v.Config.Policy(n))}
	}
	return s
}

// Changes lists, for the user, how now differs from the trusted s.
func (s VaultSnapshot) Changes(now VaultSnapshot) []string {
	var out []string
	if s.VaultID != now.VaultID || s.Kind != now.Kind {
		out = append(out, fmt.Sprintf("vault_id %s (trusted: %s)", now.VaultID, s.VaultID))
	}
	if s.DefaultProfile != now.DefaultProfile {
		out = append(out, fmt.Sprintf("default_profile %s (trusted: %s)", now.DefaultProfile, s.DefaultProfile))
	}
	var names []string
	for n := range now.Profiles {
		names = append(names, n)
	}
	for n := range s.Profiles {
		if _, ok := now.Profiles[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		old, had := s.Profiles[n]
		cur, has := now.Profiles[n]
		switch {
		case !had:
			out = append(out, fmt.Sprintf("profile %s is new", n))
			continue
		case !has:
			out = append(out, fmt.Sprintf("profile %s was removed", n))
			continue
		}
		for _, r := range cur.Recipients {
			if !slices.ContainsFunc(old.Recipients, func(o string) bool { return SameRecipient(o, r) }) {
				out = append(out, fmt.Sprintf("profile %s: recipient added %s", n, ShortRecipient(r)))
			}
		}
		for _, r := range old.Recipients {
			if !slices.ContainsFunc(cur.Recipients, func(c string) bool { return SameRecipient(c, r) }) {
				out = append(out, fmt.Sprintf("profile %s: recipient removed %s", n, ShortRecipient(r)))
			}
		}
		for _, d := range diffPins(cur.Policy, old.Policy) {
			out = append(out, fmt.Sprintf("profile %s: %s = %s (trusted: %s)", n, d.Key, d.Config, d.Pinned))
		}
	}
	return out
}

// UntrustedError: a project vault found from the working folder, or a
// .okv-profile, that this user has not trusted (Changes is empty), or that
// changed since (Changes says how). Nothing in it is used.
type UntrustedError struct {
	Path    string
	Pin     bool // a .okv-profile, not a vault
	Changes []string
}

func (e *UntrustedError) Error() string {
	what := "the project vault " + e.Path
	if e.Pin {
		what = e.Path
	}
	if len(e.Changes) > 0 {
		return fmt.Sprintf("%s changed since you trusted it: %s", what, joinSemi(e.Changes))
	}
	return what + " is not trusted: okv uses nothing in it until you trust it"
}

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// ErrNoTrustStore: trust is needed and there is no personal vault to
// record it in (CI with only an identity file).
var ErrNoTrustStore = errors.New("there is no personal vault to record trust in")

func (t *TrustStore) path() string { return filepath.Join(t.Dir, trustFile) }

// trustKey is the record's key for a vault folder or pin file: its real
// path, so that reaching a repository through a linked parent folder
// (~/src -> /data/src) finds the same record. The last element is kept as
// it is: a linked .okv or .okv-profile is refused elsewhere.
func trustKey(path string) string {
	dir, base := filepath.Split(filepath.Clean(path))
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(real, base)
	}
	return filepath.Clean(path)
}

func (t *TrustStore) read() (*trustDoc, error) {
	d := &trustDoc{Okv: 1, Vaults: map[string]VaultSnapshot{}, Pins: map[string]PinSnapshot{}}
	if t == nil || t.Dir == "" {
		return d, ErrNoTrustStore
	}
	if _, err := Open(t.Dir); errors.Is(err, ErrNotInitialized) {
		return d, ErrNoTrustStore
	} else if err != nil {
		return d, err
	}
	data, err := readChecked(t.path())
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(data, d); err != nil {
		return d, &ConfigError{Path: t.path(), Err: errors.New("not a valid trust record")}
	}
	if d.Vaults == nil {
		d.Vaults = map[string]VaultSnapshot{}
	}
	if d.Pins == nil {
		d.Pins = map[string]PinSnapshot{}
	}
	return d, nil
}

// Available returns ErrNoTrustStore when there is no personal vault to
// record trust in.
func (t *TrustStore) Available() error {
	_, err := t.read()
	return err
}

func (t *TrustStore) update(fn func(*trustDoc)) error {
	if err := t.Available(); err != nil {
		return err
	}
	return writeLocked(t.Dir, t.path(), func() ([]byte, error) {
		d, err := t.read()
		if err != nil {
			return nil, err
		}
		fn(d)
		data, err := json.MarshalIndent(d, "", "  ")
		return append(data, '\n'), err
	})
}

// CheckVault returns nil when the project vault v (in its folder) is
// trusted as it is now, else an *UntrustedError or ErrNoTrustStore.
func (t *TrustStore) CheckVault(v *Vault) error {
	d, err := t.read()
	if err != nil {
		return err
	}
	old, ok := d.Vaults[trustKey(v.Dir)]
	if !ok {
		return &UntrustedError{Path: v.Dir}
	}
	if ch := old.Changes(v.Snapshot()); len(ch) > 0 {
		return &UntrustedError{Path: v.Dir, Changes: ch}
	}
	return nil
}

// CheckPin returns nil when the .okv-profile at path, naming profile of
// the vault in vaultDir, is trusted.
func (t *TrustStore) CheckPin(path, vaultDir, profile string) error {
	d, err := t.read()
	if err != nil {
		return err
	}
	old, ok := d.Pins[trustKey(path)]
	switch {
	case !ok:
		return &UntrustedError{Path: path, Pin: true}
	case old.Vault != trustKey(vaultDir):
		return &UntrustedError{Path: path, Pin: true, Changes: []string{fmt.Sprintf("it now applies to the vault %s (trusted: %s)", vaultDir, old.Vault)}}
	case old.Profile != profile:
		return &UntrustedError{Path: path, Pin: true, Changes: []string{fmt.Sprintf("it now names profile %s (trusted: %s)", profile, old.Profile)}}
	}
	return nil
}

// TrustVault records v as it is now.
func (t *TrustStore) TrustVault(v *Vault) error {
	s := v.Snapshot()
	return t.update(func(d *trustDoc) { d.Vaults[trustKey(v.Dir)] = s })
}

// TrustPin records the .okv-profile at path as naming profile of vaultDir.
func (t *TrustStore) TrustPin(path, vaultDir, profile string) error {
	return t.update(func(d *trustDoc) { d.Pins[trustKey(path)] = PinSnapshot{Vault: trustKey(vaultDir), Profile: profile} })
}

// Untrust forgets path (a project vault folder or a .okv-profile). It
// reports whether there was anything to forget.
func (t *TrustStore) Untrust(path string) (bool, error) {
	found := false
	path = trustKey(path)
	err := t.update(func(d *trustDoc) {
		if _, ok := d.Vaults[path]; ok {
			found = true
			delete(d.Vaults, path)
		}
		if _, ok := d.Pins[path]; ok {
			found = true
			delete(d.Pins, path)
		}
	})
	return found, err
}
