// Package prestack grows the main goroutine's stack once, while it is
// shallow, so that okv's start-up never copies a deep one.
//
// A goroutine starts on a small stack that the runtime doubles whenever a
// call does not fit. Each copy walks every frame on the stack and reads
// each frame's stack map and unwinding tables in the binary's pclntab.
// Those tables are spread over 3.7 MB, and the kernel maps a file page 64
// KiB at a time, so the copies made during package init and okv run's deep
// call chains (TOML, JSON, age, the audit log) mapped about 1.4 MiB of
// pclntab and cost some 25 page faults on every start: a seventh of okv
// run's peak RSS (make bench; issue 21). Growing the stack here, with four
// frames on it, costs one small copy; the stack is not shrunk until a
// garbage collection, which a short command rarely reaches.
//
// The package's init runs before almost every other package's: the linker
// initialises a package as soon as its imports are, lexically smallest
// path first, and this one imports nothing (TestInitRunsEarly in
// cmd/okv checks it). The Go runtime has no setting for a goroutine's
// first stack, so this is done by hand.
package prestack

// never is never set and idx never changes; the compiler cannot know
// that, so Grow keeps its large frame.
var (
	never bool
	idx   int
)

func init() { Grow() }

// Frame is the size of Grow's frame: calling Grow leaves the caller's
// goroutine a stack of at least twice this.
const Frame = 64 << 10

// Grow gives the calling goroutine a stack of at least 2×Frame, without
// writing to it: the runtime checks a frame's size on entry and grows the
// stack before the body runs. Call it first thing in a goroutine that will
// run a deep call chain once (the keychain's D-Bus call).
//
//go:noinline
func Grow() byte {
	if never {
		var b [Frame]byte
		b[idx] = 1
		return b[idx+1]
	}
	return 0
}
