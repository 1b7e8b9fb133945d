//go:build unix

package nlink

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOf(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if err := os.WriteFile(a, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	count := func() uint64 {
		fi, err := os.Stat(a)
		if err != nil {
			t.Fatal(err)
		}
		return Of(fi)
	}
	if n := count(); n != 1 {
		t.Fatalf("a file of its own: %d names, want 1", n)
	}
	if err := os.Link(a, filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("a file with a hard link: %d names, want 2", n)
	}
}
