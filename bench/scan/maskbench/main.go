// Command maskbench measures the throughput of shell.Masker: it pipes
// log-like text (generated here, or read from stdin) through a Masker with
// five vault values into io.Discard, in 32 KiB writes, and prints MB/s next
// to a plain copy of the same data.
//
//	maskbench [-bytes N] [-stdin]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/okvault/okv/shell"
)

func main() {
	total := flag.Int64("bytes", 1<<30, "bytes to pipe through when generating")
	stdin := flag.Bool("stdin", false, "read the data from stdin (e.g. a child process) instead")
	noMask := flag.Bool("nomask", false, "with -stdin: copy without masking, for a baseline")
	flag.Parse()

	secrets := map[string]string{
		"OPENAI_API_KEY":    "sk-proj-" + strings.Repeat("Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9qRs2tUv5wXy8zAb1dEf4hIj", 1) + "T3BlbkFJ" + strings.Repeat("7kLm0nOp3qRs6tUv9wXy2zAb5dEf8hIj1kLm4nOp7qRs0tUv3wXy6zAb9dEf2hIj5kLm8nOp1qA", 1),
		"OPENAI_ADMIN_KEY":  "sk-admin-" + strings.Repeat("Zq9", 19) + "T3BlbkFJ" + strings.Repeat("w8X", 19) + "A",
		"ANTHROPIC_API_KEY": "sk-ant-api03-" + strings.Repeat("AbC1-", 18) + "AA",
		"DB_PASSWORD":       "correct-horse-battery-staple",
		"STRIPE_KEY":        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
	}
	const chunk = 32 << 10

	if *stdin {
		var w io.WriteCloser = shell.NewMasker(io.Discard, secrets)
		label := "mask"
		if *noMask {
			w, label = nopCloser{io.Discard}, "copy"
		}
		buf := make([]byte, chunk)
		start := time.Now()
		n, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{os.Stdin}, buf)
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "maskbench: error:", err)
			os.Exit(1)
		}
		el := time.Since(start)
		fmt.Printf("%s (stdin): %d bytes in %.2fs = %.0f MB/s\n", label, n, el.Seconds(), float64(n)/el.Seconds()/1e6)
		return
	}

	// 4 MiB of log-like lines, with sk- words and near misses, repeated.
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("INFO WARN DEBUG request handled in ms status=200 GET POST /v1/chat/completions model=gpt-4o tokens user session sk-learn task-1234 retry ok the server started for")
	var text bytes.Buffer
	for text.Len() < 4<<20 {
		text.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			text.WriteByte('\n')
		} else {
			text.WriteByte(' ')
		}
	}
	data := text.Bytes()
	pipe := func(w io.Writer) (int64, time.Duration) {
		start := time.Now()
		var n int64
		for n < *total {
			for off := 0; off < len(data) && n < *total; off += chunk {
				c := data[off:min(len(data), off+chunk)]
				w.Write(c)
				n += int64(len(c))
			}
		}
		if c, ok := w.(io.Closer); ok {
			c.Close()
		}
		return n, time.Since(start)
	}
	n, masked := pipe(shell.NewMasker(io.Discard, secrets))
	fmt.Printf("mask: %d bytes in %.2fs = %.0f MB/s (5 values, 32 KiB writes)\n", n, masked.Seconds(), float64(n)/masked.Seconds()/1e6)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
