package vault_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/okvault/okv/prices"
	"github.com/okvault/okv/vault"
)

// Concurrent updates of the price overrides never lose one another, and
// a failed update writes nothing.
func TestPriceStoreUpdate(t *testing.T) {
	v, _ := idFileVault(t)
	s := &vault.PriceStore{Dir: v.Dir}
	if o, err := s.Read(); err != nil || len(o) != 0 {
		t.Fatalf("no file: %v %v", o, err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(func(o prices.Overrides) error {
				o[fmt.Sprintf("openai/model-%d", i)] = prices.Override{Price: prices.Price{Input: float64(i), Output: 1, Checked: "2026-12-01"}, Source: "set"}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	o, err := s.Read()
	if err != nil || len(o) != 8 {
		t.Fatalf("after 8 updates: %d overrides, %v", len(o), err)
	}
	fi, _ := os.Stat(s.Path())
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("prices.json mode %v", fi.Mode())
	}
	before, _ := os.ReadFile(s.Path())
	boom := errors.New("boom")
	if err := s.Update(func(o prices.Overrides) error { delete(o, "openai/model-1"); return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(s.Path()); string(after) != string(before) {
		t.Error("a failed update was written")
	}
	// No personal vault: nothing to read, nowhere to write.
	none := &vault.PriceStore{Dir: filepath.Join(t.TempDir(), "none")}
	if o, err := none.Read(); err != nil || len(o) != 0 {
		t.Errorf("no vault: %v %v", o, err)
	}
	if err := none.Update(func(prices.Overrides) error { return nil }); !errors.Is(err, vault.ErrNotInitialized) {
		t.Errorf("update without a vault: %v", err)
	}
}

// A linked prices.json is never read.
func TestPriceStoreNoLink(t *testing.T) {
	v, _ := idFileVault(t)
	target := filepath.Join(t.TempDir(), "elsewhere.json")
	os.WriteFile(target, []byte(`{"okv_prices":1,"prices":{}}`), 0o600)
	if err := os.Symlink(target, filepath.Join(v.Dir, "prices.json")); err != nil {
		t.Skip(err)
	}
	var le *vault.LinkError
	if _, err := (&vault.PriceStore{Dir: v.Dir}).Read(); err == nil || !errors.As(err, &le) {
		t.Errorf("a linked prices.json: %v, want a LinkError", err)
	}
}
