// Command gencompletions writes okv's shell completion scripts into a
// folder (completions/ in the repository). `make completions` and
// goreleaser's before hook run it; a test fails when the committed scripts
// differ from what it would write.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/okvault/okv/cmd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencompletions DIR")
		os.Exit(2)
	}
	if err := cmd.WriteCompletions(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gencompletions:", err)
		os.Exit(1)
	}
	for _, f := range cmd.CompletionFiles {
		fmt.Println(filepath.Join(os.Args[1], f.Name))
	}
}
