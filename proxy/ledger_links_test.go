//go:build unix

package proxy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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

// A legacy usage.jsonl planted as a link is refused, not read through:
// ReadLedger must not count the records of a file outside the vault.
func TestLegacyLedgerLinkIsRefused(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere.jsonl")
	line := `{"time":"2026-12-01T11:00:00Z","profile":"dev","method":"POST","path":"/v1/chat/completions","status":200,"total_tokens":7}` + "\n"
	if err := os.WriteFile(target, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if recs, err := ReadLedgerFile(target); err != nil || len(recs) != 1 {
		t.Fatalf("the target itself reads as %d records, %v: the test's line is not a record", len(recs), err)
	}
	// The target is old: a stat through the link would skip it quietly
	// instead of refusing the link.
	old := now.AddDate(-1, 0, 0)
	if err := os.Chtimes(target, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, legacyLedger)); err != nil {
		t.Fatal(err)
	}
	for _, since := range []time.Time{{}, now.Add(-time.Hour)} {
		if recs, err := ReadLedger(dir, since, now); err == nil {
			t.Errorf("ReadLedger(since %v) did not refuse a linked %s (%d records)", since, legacyLedger, len(recs))
		}
	}
}

// usage-held.json, written in place on every hold, planted as a link:
// a hold is refused (an error, no admission), and the link's target is
// neither written nor truncated.
func TestHeldFileIsNotFollowed(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "tool")
	want := []byte("#!/bin/sh\necho keep me\n")
	if err := os.WriteFile(target, want, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, heldFile)); err != nil {
		t.Fatal(err)
	}
	l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
	id, _, err := l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true })
	if err == nil || id != 0 {
		t.Errorf("a hold through a linked %s was granted: id %d, err %v", heldFile, id, err)
	}
	if err := l.Raise(1, 200, now); err != nil {
		t.Logf("raise: %v", err)
	}
	l.Close()
	got, _ := os.ReadFile(target)
	fi, _ := os.Stat(target)
	if !bytes.Equal(got, want) || fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target changed: %q, mode %v", got, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(filepath.Join(dir, heldFile)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link itself was replaced or removed: %v, %v", fi, err)
	}
}

// A reset that fails (here the legacy usage.jsonl is a link, which the
// rebuild of the day totals refuses) changes no file: it does not
// accept the ledger's breaks while leaving its verdict in place.
func TestResetLedgerFailureChangesNothing(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere.jsonl")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, legacyLedger)); err != nil {
		t.Fatal(err)
	}
	if err := ResetLedger(dir, now); err == nil {
		t.Fatal("ResetLedger succeeded through a linked " + legacyLedger)
	}
	for _, name := range []string{acceptedFile, daysFile} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("the failed reset wrote %s", name)
		}
	}
}

// A hard link is no symbolic link: O_NOFOLLOW and the regular-file check
// pass it. The files the proxy writes in place (a month file it appends
// to, usage-held.json it rewrites) planted as a hard link to a file of the
// user's are refused, the other file left as it was.
func TestLedgerHardLinksAreRefused(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{MonthFile(now), heldFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "token.txt") // the same file system
			want := []byte("ghp_notarealtokenbutkeepme")
			if err := os.WriteFile(target, want, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
			var err error
			if name == heldFile {
				var id uint64
				id, _, err = l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true })
				if id != 0 {
					t.Errorf("a hold through a hard-linked %s was granted", name)
				}
			} else {
				err = l.Append(Record{Time: now, Profile: "dev", Method: "POST", Path: "/v1/chat/completions", Status: 200, TotalTokens: 7})
			}
			l.Close()
			if err == nil || !strings.Contains(err.Error(), "hard link") || !strings.Contains(err.Error(), "hint:") {
				t.Errorf("writing through a hard-linked %s: %v, want a refusal naming the hard link, with a hint", name, err)
			}
			if got, _ := os.ReadFile(target); !bytes.Equal(got, want) {
				t.Errorf("the other name's file changed: %q", got)
			}
		})
	}
}
