package vault

import (
	"errors"
	"time"
)

// ErrSameValue: rotating a secret to the value it already has.
var ErrSameValue = errors.New("the new value is the same as the current one")

// SetSecret stores value under name. Replacing a different value retires
// the old one into the history (at most MaxHistory kept); setting the same
// value again changes nothing. It reports whether the secret existed.
func (d *Document) SetSecret(name string, value []byte, now time.Time) (replaced bool, err error) {
	if err := ValidateSecretName(name); err != nil {
		return false, err
	}
	if err := ValidateValue(value); err != nil {
		return false, err
	}
	now = now.UTC()
	s, ok := d.Secrets[name]
	if !ok {
		if r := d.Removed[name]; r != nil {
			// Set again after 'okv rm': the removed value goes to history,
			// where 'okv rollback' finds it.
			delete(d.Removed, name)
			r.RemovedAt = time.Time{}
			d.Secrets[name] = r
			if r.Value != string(value) {
				r.retire(now)
				r.Value = string(value)
				r.RotatedAt = now
			}
			return false, nil
		}
		d.Secrets[name] = &Secret{Value: string(value), CreatedAt: now, RotatedAt: now}
		return false, nil
	}
	if s.Value == string(value) {
		return true, nil
	}
	s.retire(now)
	s.Value = string(value)
	s.RotatedAt = now
	return true, nil
}

// Secret returns the secret name, or a *SecretNotFoundError.
func (d *Document) Secret(name string) (*Secret, error) {
	s, ok := d.Secrets[name]
	if !ok {
		return nil, &SecretNotFoundError{Profile: d.Profile, Name: name}
	}
	return s, nil
}

// Rotate replaces the value of an existing secret, refusing an unchanged one.
func (d *Document) Rotate(name string, value []byte, now time.Time) error {
	s, err := d.Secret(name)
	if err != nil {
		return err
	}
	if s.Value == string(value) {
		return ErrSameValue
	}
	_, err = d.SetSecret(name, value, now)
	return err
}

// ErrNoHistory: rollback with nothing to roll back to.
var ErrNoHistory = errors.New("no previous value to roll back to")

// Rollback restores the most recent retired value; the current value is
// retired in its place, so a rollback can itself be rolled back.
//
// For a secret 'okv rm' removed, Rollback restores it as it was removed:
// its value, age and history.
func (d *Document) Rollback(name string, now time.Time) error {
	s, err := d.Secret(name)
	if r := d.Removed[name]; err != nil && r != nil {
		delete(d.Removed, name)
		r.RemovedAt = time.Time{}
		d.Secrets[name] = r
		return nil
	}
	if err != nil {
		return err
	}
	if len(s.History) == 0 {
		return ErrNoHistory
	}
	prev := s.History[len(s.History)-1]
	s.History = s.History[:len(s.History)-1]
	now = now.UTC()
	s.retire(now)
	s.Value = prev.Value
	s.RotatedAt = now
	return nil
}

func (s *Secret) retire(now time.Time) {
	s.History = append(s.History, Retired{Value: s.Value, RetiredAt: now})
	if len(s.History) > MaxHistory {
		s.History = append([]Retired(nil), s.History[len(s.History)-MaxHistory:]...)
	}
}

// RemoveSecret takes name out of the profile. The secret is kept, with its
// history, in Removed (replacing one removed before, whose value is in the
// history of this one if it was set again), so that Rollback restores it.
func (d *Document) RemoveSecret(name string, now time.Time) error {
	s, err := d.Secret(name)
	if err != nil {
		return err
	}
	s.RemovedAt = now.UTC()
	if d.Removed == nil {
		d.Removed = map[string]*Secret{}
	}
	d.Removed[name] = s
	delete(d.Secrets, name)
	return nil
}

// Redact shows the shape of a value without revealing it: the prefix up to
// the last '-' of a key-like prefix (sk-proj-) and the last 4 characters,
// only when the value is long enough that this leaves most of it hidden.
func Redact(v string) string {
	prefix := ""
	for _, p := range []string{"sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"} {
		if len(v) > len(p) && v[:len(p)] == p {
			prefix = p
			break
		}
	}
	if len(v) < 16 || len(v) <= 2*(len(prefix)+4) {
		return "…"
	}
	return prefix + "…" + v[len(v)-4:]
}
