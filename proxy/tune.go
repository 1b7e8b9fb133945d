package proxy

import "runtime/debug"

// TuneGC trades memory for CPU in a process whose main job is serving the
// proxy: the garbage collector runs at a quarter of the default frequency
// (GOGC 400), under a soft 40 MiB memory limit that keeps the footprint
// small. On the 2-core benchmark machine this gave about 9% more requests
// per second for a peak RSS of about 35 MiB instead of 20 MiB. An explicit
// GOGC or GOMEMLIMIT in the environment wins.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20)
	}
}
