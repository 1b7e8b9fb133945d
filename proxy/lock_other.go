//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package proxy

import "github.com/gofrs/flock"

// fileLock is an exclusive advisory lock on a lock file (gofrs/flock:
// LockFileEx on Windows, fcntl where flock(2) is missing).
type fileLock struct{ fl *flock.Flock }

func newFileLock(path string) *fileLock {
	return &fileLock{fl: flock.New(path, flock.SetPermissions(0o600))}
}

func (l *fileLock) Lock() error   { return l.fl.Lock() }
func (l *fileLock) Unlock() error { return l.fl.Unlock() }
func (l *fileLock) Close() error  { return l.fl.Close() }
