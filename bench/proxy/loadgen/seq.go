package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"
)

// runSeq: case 1. One request at a time to the mock upstream (which answers
// at once), the targets alternating request by request (the order rotating
// each cycle), so that all of them see the same machine. What a proxy adds
// here is its own latency, without queueing.
func runSeq(args []string) error {
	fs := flag.NewFlagSet("seq", flag.ExitOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 1000, "measured requests per target and round")
	warm := fs.Int("warmup", 50, "unmeasured requests per target and round")
	limit := fs.Duration("max", 60*time.Second, "stop a round after this long")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for r := 1; r <= c.rounds; r++ {
		fmt.Fprintf(os.Stderr, "loadgen: seq round %d: %d+%d requests per target, interleaved\n", r, *warm, *n)
		ts := c.order(r)
		clients := make([]*httpClient, len(ts))
		res := make([]result, len(ts))
		lat := make([][]float64, len(ts))
		for i, t := range ts {
			cl, tr := client(1, 10*time.Second)
			clients[i] = &httpClient{cl, tr}
			res[i] = result{Case: "seq", Target: t.Name, Round: r}
		}
		deadline := time.Now().Add(*limit)
		for k := 0; k < *warm+*n && time.Now().Before(deadline); k++ {
			for j := range ts {
				i := (j + k) % len(ts)
				t0 := time.Now()
				err := completion(clients[i].c, ts[i], 0, buf)
				d := time.Since(t0)
				if k < *warm {
					continue
				}
				if err != nil {
					res[i].fail(err)
					continue
				}
				lat[i] = append(lat[i], ms(d))
			}
		}
		for i := range ts {
			clients[i].tr.CloseIdleConnections()
			sort.Float64s(lat[i])
			res[i].N = len(lat[i])
			res[i].P50, res[i].P90, res[i].P99 = pct(lat[i], 50), pct(lat[i], 90), pct(lat[i], 99)
			if err := writeResult(c.dir, res[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
