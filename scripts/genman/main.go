// Command genman writes okv's man pages, one per command, generated from
// the command tree with cobra/doc.
//
//	genman DIR              bring DIR/*.1 in step (man/ in the repository)
//	genman -gzip OUT DIR    also write gzipped copies into OUT (for packages)
//
// `make man` and goreleaser's before hook run it; a test fails when the
// committed pages differ from what it would write.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/okvault/okv/internal/manpages"
)

func main() {
	gz := flag.String("gzip", "", "also write gzipped copies of the pages into this folder")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: genman [-gzip OUT] DIR") }
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if err := manpages.WriteManPages(dir, time.Now().UTC()); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
	if *gz != "" {
		if err := manpages.GzipManPages(dir, *gz); err != nil {
			fmt.Fprintln(os.Stderr, "genman:", err)
			os.Exit(1)
		}
	}
}
