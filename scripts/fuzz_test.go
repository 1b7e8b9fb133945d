package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzRetriesOnlyTheDeadlineRace: fuzz.sh runs a target once more
// only when it failed with Go 1.26's bare "context deadline exceeded"
// (golang/go#75804) and nothing else; a second such failure, or a
// failure that wrote an input, fails make fuzz. A fake go stands in for
// the toolchain: the race cannot be produced on demand.
func TestFuzzRetriesOnlyTheDeadlineRace(t *testing.T) {
	const flake = "--- FAIL: FuzzX (10.09s)\n    context deadline exceeded\nFAIL\nexit status 1\n"
	const found = "--- FAIL: FuzzX (0.10s)\n    --- FAIL: FuzzX (0.00s)\n        x_test.go:12: wrong\n" +
		"    Failing input written to testdata/fuzz/FuzzX/abc\nFAIL\n"
	for _, c := range []struct {
		name    string
		outputs []string // one per run: "" passes
		runs    int
		ok      bool
	}{
		{"passes", []string{""}, 1, true},
		{"race once", []string{flake, ""}, 2, true},
		{"race twice", []string{flake, flake}, 2, false},
		{"input written", []string{found, ""}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, out := range c.outputs {
				os.WriteFile(filepath.Join(dir, "out"+string(rune('0'+i))), []byte(out), 0o600)
			}
			fake := filepath.Join(dir, "go")
			script := `#!/usr/bin/env bash
n=$(cat "` + dir + `/count" 2>/dev/null || echo 0)
echo $((n+1)) > "` + dir + `/count"
out=$(cat "` + dir + `/out$n")
if [ -n "$out" ]; then printf '%s\n' "$out"; exit 1; fi
echo PASS
`
			if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "fuzz.sh", "limits:FuzzX")
			cmd.Env = append(os.Environ(), "GO="+fake, "FUZZTIME=1s")
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.ok {
				t.Fatalf("fuzz.sh: %v, want ok=%v\n%s", err, c.ok, out)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "count"))
			if runs := strings.TrimSpace(string(b)); runs != string(rune('0'+c.runs)) {
				t.Fatalf("go test ran %s times, want %d\n%s", runs, c.runs, out)
			}
		})
	}
}
