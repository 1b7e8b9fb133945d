package vault

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// OverdueSecret is a secret older than its profile's rotation period.
type OverdueSecret struct {
	Name string
	Age  time.Duration
}

// Age is how long the secret's current value has been in use.
func (s *Secret) Age(now time.Time) time.Duration {
	return now.Sub(s.RotatedAt)
}

// IsOverdue reports whether the secret's value is older than maxAge.
func (s *Secret) IsOverdue(maxAge time.Duration, now time.Time) bool {
	return s.Age(now) > maxAge
}

// Overdue lists the document's secrets older than maxAge, by name.
func (d *Document) Overdue(maxAge time.Duration, now time.Time) []OverdueSecret {
	var out []OverdueSecret
	for _, n := range d.Names() {
		if s := d.Secrets[n]; s.IsOverdue(maxAge, now) {
			out = append(out, OverdueSecret{Name: n, Age: s.Age(now)})
		}
	}
	return out
}

// stateFile holds small plaintext bookkeeping that is neither config nor
// secret: when each profile's overdue warning was last shown.
const stateFile = "state.json"

// overdueWarnedKey is this file's field; other fields are kept as they are.
const overdueWarnedKey = "overdue_warned"

// StatePath is state.json's path.
func (v *Vault) StatePath() string { return filepath.Join(v.Dir, stateFile) }

// readState reads state.json as raw fields. A missing, unreadable or
// unsafe (group- or world-writable) file reads as empty: it only ever
// suppresses warnings, so when in doubt the warning is shown.
func (v *Vault) readState() map[string]json.RawMessage {
	st := map[string]json.RawMessage{}
	data, err := readChecked(v.StatePath())
	if err != nil {
		return st
	}
	if json.Unmarshal(data, &st) != nil || st == nil {
		return map[string]json.RawMessage{}
	}
	return st
}

// stateSnapshot is state.json for the lock-free readers: read once per
// Vault, then kept (and refreshed by updateState). Those readers only
// ever skip a warning, and every Mark* re-checks under the lock.
func (v *Vault) stateSnapshot() map[string]json.RawMessage {
	if st := v.state.Load(); st != nil {
		return *st
	}
	st := v.readState()
	v.state.Store(&st)
	return st
}

func overdueWarned(st map[string]json.RawMessage) map[string]string {
	m := map[string]string{}
	if raw, ok := st[overdueWarnedKey]; ok {
		json.Unmarshal(raw, &m)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m
}

// OverdueWarnedOn reports whether the overdue warning for profile was
// already shown on day (a YYYY-MM-DD string). It takes no lock.
func (v *Vault) OverdueWarnedOn(profile, day string) bool {
	return overdueWarned(v.stateSnapshot())[profile] == day
}

// MarkOverdueWarned records that the overdue warning for profile is shown
// on day. It returns false when another okv already recorded that day, so
// exactly one of concurrent runs warns. The file is written atomically
// under the vault lock.
func (v *Vault) MarkOverdueWarned(profile, day string) (bool, error) {
	// On okv run's path (the day's first reminder): one fsync, not two.
	return v.updateState(writeReminder, func(st map[string]json.RawMessage) (bool, error) {
		m := overdueWarned(st)
		if m[profile] == day {
			return false, nil
		}
		m[profile] = day
		return true, setState(st, overdueWarnedKey, m)
	})
}

// updateState changes state.json under the vault lock: edit changes the
// fields it read and reports whether there is anything to write; write is
// how (WriteFileAtomic, or writeReminder on okv run's path). An unsafe
// existing file is replaced by a 0600 one; a link is refused.
func (v *Vault) updateState(write func(string, []byte) error, edit func(map[string]json.RawMessage) (bool, error)) (bool, error) {
	unlock, err := v.Lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	st := v.readState()
	if changed, err := edit(st); err != nil || !changed {
		return false, err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return false, err
	}
	if fi, err := os.Lstat(v.StatePath()); err == nil && !fi.Mode().IsRegular() {
		return false, &fs.PathError{Op: "write", Path: v.StatePath(), Err: errors.New("not a regular file")}
	}
	if err := write(v.StatePath(), append(data, '\n')); err != nil {
		v.state.Store(nil)
		return true, err
	}
	v.state.Store(&st)
	return true, nil
}

// setState sets st[key] to value's JSON.
func setState(st map[string]json.RawMessage, key string, value any) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return err
	}
	st[key] = raw
	return nil
}
