package vault

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/okvault/okv/prices"
)

// pricesFile holds the user's price overrides (okv price set/import) in
// the personal vault only: prices drive dollar budgets, so a project
// vault (a cloned repository's .okv/) must never be able to lower them.
const pricesFile = "prices.json"

// PriceStore is the user's price overrides in the personal vault's
// folder (PersonalDir).
type PriceStore struct{ Dir string }

// Path is the overrides file's path.
func (s *PriceStore) Path() string { return filepath.Join(s.Dir, pricesFile) }

// Read returns the overrides: none when there is no personal vault or no
// file yet. The file is never read through a link, nor when others can
// write it.
func (s *PriceStore) Read() (prices.Overrides, error) {
	if s == nil || s.Dir == "" {
		return prices.Overrides{}, nil
	}
	data, err := readChecked(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return prices.Overrides{}, nil
	}
	if err != nil {
		return nil, err
	}
	o, err := prices.ParseOverrides(data)
	if err != nil {
		return nil, &ConfigError{Path: s.Path(), Err: err}
	}
	return o, nil
}

// Update changes the overrides with fn under the vault's lock and writes
// them atomically; when fn fails nothing is written. It needs a personal
// vault (ErrNoTrustStore's case is ErrNotInitialized here).
func (s *PriceStore) Update(fn func(prices.Overrides) error) error {
	if _, err := Open(s.Dir); err != nil {
		return err
	}
	return writeLocked(s.Dir, s.Path(), func() ([]byte, error) {
		o, err := s.Read()
		if err != nil {
			return nil, err
		}
		if err := fn(o); err != nil {
			return nil, err
		}
		return prices.MarshalOverrides(o)
	})
}
