package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The scripts under completions/ ship in release archives; they must match
// the command tree. Regenerate with `make completions`.
func TestCompletionsUpToDate(t *testing.T) {
	for _, f := range CompletionFiles {
		want, err := GenerateCompletion(f.Shell)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "completions", f.Name))
		if err != nil {
			t.Fatalf("%v (run 'make completions')", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("completions/%s is stale: run 'make completions' and commit the result", f.Name)
		}
	}
}
