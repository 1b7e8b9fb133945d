//go:build unix

package proxy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A vault folder may come from a cloned repository: a ledger file or its
// lock planted there as a link must not make the proxy create, append to
// or chmod the file it points at.
func TestLedgerFilesAreNotFollowed(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{MonthFile(now), daysFile, ledgerLock} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(t.TempDir(), "tool")
			want := []byte("#!/bin/sh\necho keep me\n")
			if err := os.WriteFile(target, want, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
			err := l.Append(Record{Time: now, Profile: "dev", Method: "POST", Path: "/v1/chat/completions", Status: 200, TotalTokens: 7})
			l.Close()
			if name != daysFile && err == nil {
				t.Errorf("append through a linked %s succeeded", name)
			}
			if _, err := TokensUsed(dir, "dev", now); name == ledgerLock && err == nil {
				t.Errorf("TokensUsed through a linked %s succeeded", name)
			}
			got, _ := os.ReadFile(target)
			fi, _ := os.Stat(target)
			if !bytes.Equal(got, want) || fi.Mode().Perm() != 0o755 {
				t.Errorf("the link's target changed: %q, mode %v", got, fi.Mode().Perm())
			}
		})
	}
}
