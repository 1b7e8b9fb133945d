//go:build unix

package proxy

import (
	"errors"
	"os"
	"syscall"
)

// fdLock is the ledger's lock for a FileLedger that takes it for every
// request: flock(2) on a descriptor kept open, the lock gofrs/flock takes
// (so every okv, old or new, excludes every other), without the open(2)
// and close(2) that gofrs/flock's Unlock makes each lock cost (it closes
// its file). After each lock, the name is checked to still be that
// file: a usage.lock removed and created again is locked anew.
type fdLock struct {
	path string
	f    *os.File
	fi   os.FileInfo
}

func newFileLock(path string) (ledgerLocker, error) {
	if _, err := newLedgerLock(path); err != nil {
		return nil, err
	}
	return &fdLock{path: path}, nil
}

func (l *fdLock) Lock() error {
	for range 8 {
		if l.f == nil {
			f, err := os.OpenFile(l.path, os.O_CREATE|os.O_RDONLY|oNoFollow, 0o600)
			if err != nil {
				return err
			}
			fi, err := f.Stat()
			if err == nil && !fi.Mode().IsRegular() {
				err = errors.New(l.path + " is not a regular file: okv does not use it")
			}
			if err != nil {
				f.Close()
				return err
			}
			l.f, l.fi = f, fi
		}
		var err error
		for {
			if err = syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX); !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			return err
		}
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.fi) {
			return nil
		}
		l.Close() // the name is another file now: lock that one
	}
	return errors.New(l.path + " keeps being replaced")
}

func (l *fdLock) Unlock() error {
	if l.f == nil {
		return nil
	}
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
}

func (l *fdLock) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close() // drops the lock too
	l.f, l.fi = nil, nil
	return err
}
