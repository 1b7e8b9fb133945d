package vault

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// PermissionError reports a vault folder or file that group or others can
// write (or, for files holding secrets, read). Fix is the command that
// repairs it.
type PermissionError struct {
	Path string
	Mode fs.FileMode
	Fix  string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s has unsafe permissions %04o: group or others can write it", e.Path, e.Mode.Perm())
}

// checkPerm refuses a path that group or others can write. Windows has no
// such mode bits; ACLs there are the user's profile folder's.
func checkPerm(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	mask := fs.FileMode(0o022)
	if inProjectVault(path) && inOwnGroup(fi) {
		// A project vault comes from git, which honours the umask: with
		// user private groups (umask 002) files arrive group-writable by
		// the user's own group, which grants no one else.
		mask = 0o002
	}
	if fi.Mode().Perm()&mask != 0 {
		want := "600"
		if fi.IsDir() {
			want = "700"
		}
		return &PermissionError{Path: path, Mode: fi.Mode(), Fix: fmt.Sprintf("chmod %s %s", want, shellQuote(path))}
	}
	return nil
}

// WriteFileAtomic writes data to path so that a crash at any instant leaves
// either the old or the new content: temp file in the same folder, write,
// fsync, rename, fsync the folder. The caller holds the vault lock.
func WriteFileAtomic(path string, data []byte) error { return writeAtomic(path, data, filePerm, true) }

// WriteFileAtomicMode is WriteFileAtomic with the file's permissions perm,
// for files outside the vault that keep their own (okv adopt's rewrites).
func WriteFileAtomicMode(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, data, perm, true)
}

// writeReminder is WriteFileAtomic without the folder's fsync, for
// state.json (reminder bookkeeping) written on okv run's way to the exec:
// one fsync, of the data, so the file is never found empty after a power
// loss; the rename may be lost with it, and then a reminder is shown once
// more. A killed okv still leaves the old content or the new.
func writeReminder(path string, data []byte) error { return writeAtomic(path, data, filePerm, false) }

func writeAtomic(path string, data []byte, perm os.FileMode, syncFolder bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if !syncFolder {
		return nil
	}
	return syncDir(dir)
}

// chmodDir sets a folder okv created to 0700 through an open descriptor,
// never by path.
func chmodDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Chmod(dirPerm)
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// shellQuote quotes a path for a hint the user may paste into a shell.
func shellQuote(s string) string {
	for _, c := range s {
		if !(c == '/' || c == '.' || c == '-' || c == '_' || c == '~' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// inProjectVault reports whether path is a project vault folder (.okv) or
// inside one.
func inProjectVault(path string) bool {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if filepath.Base(p) == ProjectDirName {
			return true
		}
		if filepath.Dir(p) == p {
			return false
		}
	}
}

// writeLocked writes path atomically with what build returns, under the
// lock of the vault in dir (build reads the file's current content under
// it); when build fails nothing is written.
func writeLocked(dir, path string, build func() ([]byte, error)) error {
	unlock, err := (&Vault{Dir: dir}).Lock()
	if err != nil {
		return err
	}
	defer unlock()
	data, err := build()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}
