//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package shell

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setDefaultAction sets sig's action to SIG_DFL. The Go runtime keeps its
// own handler installed for every signal it knows (signal.Reset restores
// that handler, which ignores SIGUSR1 or SIGPIPE and dumps goroutines on
// SIGQUIT), and no package exports sigaction, so this is the raw system
// call. An all-zero struct sigaction is SIG_DFL with no flags and an empty
// mask in every Linux layout; 8 is sizeof(sigset_t) everywhere but MIPS.
func setDefaultAction(sig syscall.Signal) bool {
	var sa [8]uint64
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
	return errno == 0
}
