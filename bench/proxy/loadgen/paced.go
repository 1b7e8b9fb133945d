package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// runPaced: case 2. An open loop: request i is due at start + i/rate,
// whether or not earlier ones have been answered (each runs in its own
// goroutine), and its latency counts from when it was due, so a proxy that
// queues shows it. The upstream answers each after -delay, as a real one
// does, so about rate×delay requests are in flight.
//
// The schedule is one steady stream for the whole case; which target the
// requests go to changes every -d/-slices (each round is -slices blocks per
// target, their order rotating), so a burst of load from the machine's
// neighbours falls on all the targets of a round rather than on one. The
// case starts with a -warmup block per target, not measured, which opens
// the connections that the rest reuses.
func runPaced(args []string) error {
	fs := flag.NewFlagSet("paced", flag.ExitOnError)
	var c common
	c.register(fs)
	rate := fs.Float64("rate", 200, "requests per second")
	delay := fs.Duration("delay", 300*time.Millisecond, "the upstream's answer time")
	dur := fs.Duration("d", 5*time.Second, "measured time per target and round")
	slices := fs.Int("slices", 5, "blocks per target and round")
	warm := fs.Duration("warmup", time.Second, "unmeasured block per target at the start")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	if *rate <= 0 || *rate > 5000 || *slices < 1 {
		return fmt.Errorf("-rate %v, -slices %d: want 0 < rate <= 5000, slices >= 1", *rate, *slices)
	}
	period := time.Duration(float64(time.Second) / *rate)
	type block struct {
		t     int // index in c.targets
		round int // 0: warm-up
		n     int // requests
	}
	var blocks []block
	for i := range c.targets {
		blocks = append(blocks, block{i, 0, int(*warm / period)})
	}
	per := int(*dur / period / time.Duration(*slices))
	for r := 1; r <= c.rounds; r++ {
		for s := 0; s < *slices; s++ {
			for j := range c.targets {
				blocks = append(blocks, block{(j + r - 1 + s) % len(c.targets), r, per})
			}
		}
	}

	inflight := int(*rate*delay.Seconds()) + 64
	clients := make([]*httpClient, len(c.targets))
	for i := range clients {
		cl, tr := client(inflight, *delay+10*time.Second)
		clients[i] = &httpClient{cl, tr}
		defer tr.CloseIdleConnections()
	}
	type key struct{ t, round int }
	var mu sync.Mutex
	lat := map[key][]float64{}
	lag := map[key][]float64{}
	res := map[key]*result{}
	for i, t := range c.targets {
		for r := 1; r <= c.rounds; r++ {
			res[key{i, r}] = &result{Case: "paced", Target: t.Name, Round: r}
		}
	}
	fmt.Fprintf(os.Stderr, "loadgen: paced: %.0f req/s, upstream answers in %v; %v warm-up, then %d round(s) of %d×%v per target, interleaved\n",
		*rate, *delay, *warm, c.rounds, *slices, time.Duration(per)*period)
	var wg sync.WaitGroup
	start := time.Now()
	i := 0
	for _, b := range blocks {
		k := key{b.t, b.round}
		t, cl := c.targets[b.t], clients[b.t].c
		for n := 0; n < b.n; n, i = n+1, i+1 {
			due := start.Add(time.Duration(i) * period)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent := time.Now()
				buf := make([]byte, 4<<10)
				err := completion(cl, t, *delay, buf)
				done := time.Now()
				if k.round == 0 {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res[k].fail(err)
					return
				}
				lat[k] = append(lat[k], ms(done.Sub(due)))
				lag[k] = append(lag[k], ms(sent.Sub(due)))
			}()
		}
	}
	wg.Wait()
	for k, r := range res {
		l, g := lat[k], lag[k]
		sort.Float64s(l)
		sort.Float64s(g)
		r.N = len(l)
		r.P50, r.P90, r.P99 = pct(l, 50), pct(l, 90), pct(l, 99)
		r.SendLag99 = pct(g, 99)
		r.RPS = *rate
		if err := writeResult(c.dir, *r); err != nil {
			return err
		}
	}
	return nil
}
