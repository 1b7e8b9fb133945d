//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package proxy

import (
	"os"
	"syscall"
)

// fileLock is an exclusive flock(2) on a lock file kept open between
// appends (gofrs/flock reopens the file for every lock, which costs two
// system calls per append). It excludes, and is excluded by, gofrs/flock
// locks on the same file.
type fileLock struct {
	path string
	f    *os.File
}

func newFileLock(path string) *fileLock { return &fileLock{path: path} }

func (l *fileLock) Lock() error {
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		l.f = f
	}
	for {
		err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (l *fileLock) Unlock() error {
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
}

func (l *fileLock) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
