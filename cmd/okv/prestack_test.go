package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitRunsEarly: internal/prestack grows the main goroutine's stack in
// its package init, and that only saves the stack copies (and about 1 MiB
// of okv run's peak RSS, make bench) when it runs before the packages whose
// init goes deep. The linker orders inits by import path among packages
// whose imports are done, so a rename or an import added to prestack
// could move it late; GODEBUG=inittrace=1 shows the real order.
func TestInitRunsEarly(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	okv := filepath.Join(t.TempDir(), "okv") // testscript.Main runs okv under this name
	if err := os.Symlink(exe, okv); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(okv, "version")
	c.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("okv version: %v\n%s", err, out)
	}
	var order []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "init" {
			order = append(order, f[1])
		}
	}
	const pkg = "github.com/okvault/okv/internal/prestack"
	for i, p := range order {
		if p == pkg {
			// Before it: the runtime's own packages and a few leaves
			// with lexically smaller paths (crypto/internal/...).
			if i > 8 {
				t.Fatalf("%s is init #%d; want it among the first packages, before:\n%s", pkg, i+1, strings.Join(order[:i], "\n"))
			}
			return
		}
	}
	t.Fatalf("%s never initialised (not linked?); inits were:\n%s", pkg, strings.Join(order, "\n"))
}
