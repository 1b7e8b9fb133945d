package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoMethodsKeptForReflection: nothing linked into okv looks methods up
// by name through reflection (text/template does: cobra's
// Set{Usage,Help,Version}Template). The linker then has to keep every
// exported method of every type, about 2 MB of the binary that okv run
// maps at every start (issue 21).
func TestNoMethodsKeptForReflection(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: links the okv binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out := filepath.Join(t.TempDir(), "okv")
	cmd := exec.Command(goBin, "build", "-ldflags=-dumpdep", "-o", out, ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%.2000s", err, b)
	}
	var users []string
	for _, l := range strings.Split(string(b), "\n") {
		if from, _, ok := strings.Cut(l, " ->"); ok && strings.Contains(from, "<ReflectMethod>") && len(users) < 10 {
			users = append(users, from)
		}
	}
	if len(users) > 0 {
		t.Errorf("the linker keeps every exported method: these call reflect's Method/MethodByName:\n%s", strings.Join(users, "\n"))
	}
}
