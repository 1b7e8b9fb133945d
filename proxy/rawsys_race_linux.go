//go:build linux && race

package proxy

import "syscall"

// Under the race detector, reads and writes go through package syscall,
// which tells the detector that a read happens after the write whose
// bytes it reads (as net.TCPConn's do): tests that order goroutines by
// what they send each other would otherwise report races that are not.
// The raw calls of rawsys_linux.go are tested without -race.

func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), b)
	return max(n, 0), errno(err)
}

func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), b)
	return max(n, 0), errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
