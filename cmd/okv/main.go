// Command okv is a local, encrypted vault for API keys.
package main

import (
	"os"

	"github.com/okvault/okv/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:]))
}
