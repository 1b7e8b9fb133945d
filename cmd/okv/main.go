// Command okv is a local, encrypted vault for API keys.
package main

import (
	"os"

	"github.com/okvault/okv/cmd"
	// Grows the main goroutine's stack before the other inits run: see
	// its package comment (okv run's peak RSS, issue 21).
	_ "github.com/okvault/okv/internal/prestack"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:]))
}
