package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/okvault/okv/internal/nlink"
)

// LinkError: a file or folder of a vault is a symbolic link (or another
// non-regular file), or a file okv changes in place that has other names
// (a hard link). okv never follows one: a cloned repository's
// .okv/profiles/prod.age linked to ~/.config/okv/profiles/prod.age would
// otherwise hand the personal key to whoever chose the link, and a linked
// .lock or audit.jsonl would make okv write to the file it points at.
type LinkError struct {
	Path string
	Kind string // "a symbolic link", "not a regular file", "not a folder", "a hard link …"
	// Names is the file's link count when it is a hard link (Kind says
	// so), else 0.
	Names uint64
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("%s is %s; okv does not follow links in a vault", e.Path, e.Kind)
}

// openVaultFile opens a file of a vault without following a symbolic link
// and refuses anything but a regular file. With os.O_CREATE a new file
// gets perm; an existing one keeps its mode (checked by the callers).
// Opened for writing (okv appends to audit.jsonl and rewrites audit.head
// in place), a file with more than one name is refused too: a hard link
// planted in the folder by someone who can write it would make okv write
// into the link's other file. okv never makes one; every other vault file
// is replaced by a rename, which replaces the name, not the file.
func openVaultFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	if oNoFollow == 0 {
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, linkError(path, fi)
		}
	}
	f, err := os.OpenFile(path, flag|oNoFollow, perm)
	if err != nil {
		return nil, noFollowError(path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &LinkError{Path: path, Kind: "not a regular file"}
	}
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if err := checkOneName(path, fi); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// checkOneName refuses a file okv changes through an open descriptor
// (written in place, or its mode set) that has other names. Only more
// than one counts: a file removed since it was opened (0 names) reaches
// no other file.
func checkOneName(path string, fi fs.FileInfo) error {
	if n := nlink.Of(fi); n > 1 {
		return &LinkError{Path: path, Kind: fmt.Sprintf("a hard link (the file has %d names)", n), Names: n}
	}
	return nil
}

// noFollowError turns an open(2) with oNoFollow refused on a link into a
// LinkError; other errors are returned as they are.
func noFollowError(path string, err error) error {
	if errors.Is(err, syscall.ELOOP) || isNoFollowRefusal(path, err) {
		return &LinkError{Path: path, Kind: "a symbolic link"}
	}
	return err
}

// isNoFollowRefusal: some systems (FreeBSD, macOS) answer O_NOFOLLOW on a
// link with EMLINK or EFTYPE rather than ELOOP.
func isNoFollowRefusal(path string, err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	fi, lerr := os.Lstat(path)
	return lerr == nil && fi.Mode()&fs.ModeSymlink != 0
}

func linkError(path string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &LinkError{Path: path, Kind: "a symbolic link"}
	}
	if fi.IsDir() {
		return &LinkError{Path: path, Kind: "a folder, not a file"}
	}
	return &LinkError{Path: path, Kind: "not a regular file"}
}

// checkVaultDir refuses a vault folder (or its profiles/ folder) that is a
// symbolic link or not a folder. A missing one is not an error here.
// CheckFolder refuses a folder okv writes into that is a link or not a
// folder (okv adopt's backups).
func CheckFolder(path string) error {
	_, err := checkVaultDir(path)
	return err
}

func checkVaultDir(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &LinkError{Path: path, Kind: "a symbolic link"}
	}
	if !fi.IsDir() {
		return nil, &LinkError{Path: path, Kind: "not a folder"}
	}
	return fi, nil
}

// CheckRegular refuses a vault file that exists and is not a regular file
// (a link, a device, a folder), for files another package opens by path,
// such as the proxy's usage ledger and its lock.
func CheckRegular(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return linkError(path, fi)
	}
	return nil
}

// UsagePath is the proxy's usage ledger in the vault folder, checked not to
// be a link (nor its lock file).
func (v *Vault) UsagePath() (string, error) {
	p := filepath.Join(v.Dir, "usage.jsonl")
	for _, f := range []string{p, p + ".lock"} {
		if err := CheckRegular(f); err != nil {
			return "", err
		}
	}
	return p, nil
}
