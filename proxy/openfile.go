package proxy

import (
	"fmt"
	"io"
	"os"

	"github.com/gofrs/flock"

	"github.com/okvault/okv/internal/nlink"
)

// openLedger opens a ledger file without following a symbolic link and
// refuses anything but a regular file: a vault folder may come from a
// cloned repository, and a usage-*.jsonl or usage.lock linked elsewhere
// must not make the proxy append to (or create) the file it points at.
func openLedger(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, _, err := openLedgerFI(path, flag, perm)
	return f, err
}

// openLedgerFI is openLedger, with the file's stat it checked.
func openLedgerFI(path string, flag int, perm os.FileMode) (*os.File, os.FileInfo, error) {
	if oNoFollow == 0 {
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("%s is not a regular file (a link?): okv does not follow it", path)
		}
	}
	f, err := os.OpenFile(path, flag|oNoFollow, perm)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file: okv does not use it", path)
	}
	// A file okv writes in place (appends, usage-held.json) with another
	// name would change that other file too: a hard link planted in the
	// vault folder, as vault's own files refuse (vault.openVaultFile).
	if n := nlink.Of(fi); n > 1 && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		f.Close()
		return nil, nil, &FileError{Path: path, Problem: fmt.Sprintf("is a hard link (the file has %d names): okv does not write through it", n),
			Fix: "make it a file of its own ('cp -p F F.copy && mv F.copy F')"}
	}
	return f, fi, nil
}

// FileError is a ledger file okv refuses to use, and what makes it usable
// again (okv doctor shows Fix as the fix).
type FileError struct {
	Path, Problem, Fix string
}

func (e *FileError) Error() string { return e.Path + " " + e.Problem + "; hint: " + e.Fix }

// readLedgerBytes reads a whole ledger file through openLedger.
func readLedgerBytes(path string) ([]byte, error) {
	f, err := openLedger(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// newLedgerLock is the ledger's lock file, opened without following a
// link. The lock's own open has no Stat check, but O_NOFOLLOW alone keeps
// a link from being followed on Unix; elsewhere it is checked by Lstat.
func newLedgerLock(path string) (*flock.Flock, error) {
	if oNoFollow == 0 {
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (a link?): okv does not follow it", path)
		}
	}
	return flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDONLY|oNoFollow), flock.SetPermissions(0o600)), nil
}

// openLedgerStat opens path as openLedger does (0600 when created), with
// its stat; on error nothing is left open (errors.Is finds
// fs.ErrNotExist through the usage-ledger error).
func openLedgerStat(path string, flag int) (*os.File, os.FileInfo, error) {
	f, st, err := openLedgerFI(path, flag, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("usage ledger: %w", err)
	}
	return f, st, nil
}
