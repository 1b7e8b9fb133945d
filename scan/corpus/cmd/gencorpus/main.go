// Command gencorpus writes a test tree with planted keys (see package
// corpus) and its manifest.
//
//	gencorpus -dir DIR [-files N] [-size BYTES] [-seed N] [-manifest FILE]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/okvault/okv/scan/corpus"
)

func main() {
	var o corpus.Options
	flag.StringVar(&o.Dir, "dir", "", "folder to write the tree into (required)")
	flag.IntVar(&o.Files, "files", 1000, "number of files")
	size := flag.String("size", "", "total size in bytes (suffixes K, M, G allowed); default 4 KiB per file")
	flag.Uint64Var(&o.Seed, "seed", 0, "random seed; 0 picks one")
	manifest := flag.String("manifest", "", "where to write the manifest (default DIR.manifest.json)")
	flag.IntVar(&o.Workers, "workers", 0, "files written at once")
	flag.Parse()
	if o.Dir == "" {
		fmt.Fprintln(os.Stderr, "gencorpus: error: -dir is required")
		os.Exit(2)
	}
	if *size != "" {
		n, err := parseSize(*size)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gencorpus: error:", err)
			os.Exit(2)
		}
		o.Size = n
	}
	if *manifest == "" {
		*manifest = strings.TrimRight(o.Dir, "/") + ".manifest.json"
	}
	m, err := corpus.Generate(o)
	if err == nil {
		err = m.WriteFile(*manifest)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus: error:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gencorpus: %d files, %d bytes, %d plants, %d decoys, %d binary; seed %d; manifest %s\n",
		m.Files, m.Bytes, len(m.Plants), len(m.Decoys), len(m.Binary), m.Seed, *manifest)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("bad -size %q", s)
	}
	return n * mult, nil
}
