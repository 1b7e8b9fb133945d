//go:build linux

package proxy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHeldWriteCutShortPutsBack: a write of usage-held.json cut short as
// it grows (a full disk; here the process's file size limit) would leave
// a torn file, which every okv then refuses until it is removed. The
// bytes it had are put back: the hold fails, and the next one, once
// there is room, is granted and still counts the other process's holds.
func TestHeldWriteCutShortPutsBack(t *testing.T) {
	now := ledgerTestTime
	dir := t.TempDir()
	// Another live entry (this process's id, another ledger's), just
	// under the limit, with many profiles so that it is large.
	held := map[string]int64{"dev": 300}
	for i := 0; len(held) < 200; i++ {
		held["profile-"+strings.Repeat("x", 8)+string(rune('a'+i%26))+string(rune('a'+i/26))] = 1
	}
	other, err := json.Marshal(map[string]heldEntry{"other": {PID: os.Getpid(), Held: held, Since: now}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, heldFile)
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
	defer l.Close()
	// The lock file, the day totals and the month file are made first,
	// under no limit: only usage-held.json grows past it.
	if _, _, err := l.Hold("dev", now, 1, 0, nil, func(Spend) bool { return false }); err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(len(other)) + 16 // room for less than this ledger's entry
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip("cannot set a file size limit:", err)
	}
	id, _, err := l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true })
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err == nil || id != 0 {
		t.Fatalf("a hold whose write was cut short: id %d, err %v", id, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, other) {
		t.Fatalf("%s after the cut write: %d bytes, not the %d it had", heldFile, len(got), len(other))
	}
	var seen Spend
	if id, _, err := l.Hold("dev", now, 100, 0, nil, func(s Spend) bool { seen = s; return true }); err != nil || id == 0 {
		t.Fatalf("once there is room: id %d, err %v", id, err)
	}
	if seen.HeldTokens != 300 {
		t.Errorf("held %d, want the other entry's 300", seen.HeldTokens)
	}
}
