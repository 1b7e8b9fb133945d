package adopt

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/okvault/okv/vault"
)

// ChangedError: the file is not what Find read (a shell appended to its
// history, an editor saved it): it is left alone.
type ChangedError struct{ Path string }

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s changed since it was searched: left alone (run okv adopt again)", e.Path)
}

// Rewritten is data with f's findings rewritten; ref gives the okv://
// reference a finding's key now lives at. Several keys in one line or
// history entry rewrite it once.
func (f *File) Rewritten(data []byte, ref func(Finding) string) []byte {
	fs := append([]Finding(nil), f.Findings...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].EntryStart < fs[j].EntryStart })
	var b bytes.Buffer
	prev := 0
	for i := 0; i < len(fs); i++ {
		start, end := fs[i].EntryStart, fs[i].EntryEnd
		group := []Finding{fs[i]}
		for i+1 < len(fs) && fs[i+1].EntryStart < end {
			i++
			group = append(group, fs[i])
			end = max(end, fs[i].EntryEnd)
		}
		if start < prev {
			continue
		}
		b.Write(data[prev:start])
		switch f.Kind {
		case DotEnv:
			b.WriteString(ref(group[0]))
		case RC:
			var refs []string
			for _, g := range group {
				refs = append(refs, g.Name+" is "+ref(g))
			}
			b.WriteString("# okv adopt: a key was here; " + strings.Join(refs, ", ") + " (use it with 'okv run -- CMD')")
			if bytes.HasSuffix(data[start:end], []byte("\n")) {
				b.WriteByte('\n')
			}
		case ReadOnly:
			b.Write(data[start:end])
		}
		// History entries: dropped.
		prev = end
	}
	b.Write(data[prev:])
	return b.Bytes()
}

// Rewritable reports whether Apply changes the file.
func (f *File) Rewritable() bool { return f.Kind != ReadOnly }

// Apply rewrites f in place: it re-reads the file and leaves it alone
// (*ChangedError) unless it is byte for byte what Find read, keeps a 0600
// backup in backupDir (0700), then replaces the file atomically, with its
// permissions. It returns the backup's path.
func (f *File) Apply(backupDir string, ref func(Finding) string, now time.Time) (string, error) {
	data, err := os.ReadFile(f.Target)
	if err != nil {
		return "", err
	}
	if sha256.Sum256(data) != f.sum {
		return "", &ChangedError{Path: f.Path}
	}
	if err := os.MkdirAll(backupDir, 0o700); err != nil {
		return "", err
	}
	// The backups hold keys in plaintext: never into a folder a planted
	// link points at.
	if err := vault.CheckFolder(backupDir); err != nil {
		return "", err
	}
	if err := os.Chmod(backupDir, 0o700); err != nil {
		return "", err
	}
	backup := filepath.Join(backupDir, now.UTC().Format("20060102T150405.000000000Z")+"-"+strings.ReplaceAll(f.Target, string(filepath.Separator), "%"))
	if err := vault.WriteFileAtomicMode(backup, data, 0o600); err != nil {
		return "", fmt.Errorf("could not keep a backup of %s: %w", f.Path, err)
	}
	if err := vault.WriteFileAtomicMode(f.Target, f.Rewritten(data, ref), f.mode); err != nil {
		os.Remove(backup) // the file is unchanged: no plaintext copy stays behind
		return "", err
	}
	return backup, nil
}

// BackupOriginal is the path a backup file in a backup folder was taken of.
func BackupOriginal(name string) string {
	_, p, ok := strings.Cut(name, "-")
	if !ok {
		return ""
	}
	return strings.ReplaceAll(p, "%", string(filepath.Separator))
}

// CleanBackups removes the backups in backupDir and returns how many.
func CleanBackups(backupDir string) (int, error) {
	ents, err := os.ReadDir(backupDir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if err := os.Remove(filepath.Join(backupDir, e.Name())); err != nil {
			return n, err
		}
		n++
	}
	return n, os.Remove(backupDir)
}
