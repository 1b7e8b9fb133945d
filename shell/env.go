package shell

import (
	"runtime"
	"sort"
	"strings"
)

// ChildEnv returns base (okv's own environment) with vars added. A base
// variable of the same name is replaced, not duplicated: some programs
// read the first occurrence, others the last. On Windows names compare
// case-insensitively, as the OS does.
func ChildEnv(base []string, vars map[string]string) []string {
	fold := runtime.GOOS == "windows"
	key := func(k string) string {
		if fold {
			return strings.ToUpper(k)
		}
		return k
	}
	drop := make(map[string]bool, len(vars))
	for k := range vars {
		drop[key(k)] = true
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, ok := strings.Cut(kv, "=")
		if ok && drop[key(k)] {
			continue
		}
		out = append(out, kv)
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// WithoutVars returns env without the named variables.
func WithoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			if k == n || (runtime.GOOS == "windows" && strings.EqualFold(k, n)) {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// WithoutValues returns env without the variables whose value contains
// any of values (empty ones ignored): a variable inherited from the
// caller that holds a key the child must not have, under any name.
func WithoutValues(env []string, values ...string) ([]string, []string) {
	out := make([]string, 0, len(env))
	var dropped []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		drop := false
		for _, s := range values {
			if s != "" && strings.Contains(v, s) {
				drop = true
				break
			}
		}
		if drop {
			dropped = append(dropped, k)
			continue
		}
		out = append(out, kv)
	}
	return out, dropped
}
