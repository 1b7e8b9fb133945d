package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

// runSat: case 4. -c connections each send the next request as soon as the
// last is answered (the mock upstream answers at once): requests/s, and the
// proxy's CPU time per request (from /proc/PID/stat of the target's
// processes, over the measured blocks only). No user waits like this; it is
// there to catch regressions.
//
// As in paced, each round is -slices blocks of -d/-slices per target, their
// order rotating, each target keeping its kept-alive connections from
// block to block; the case starts with an unmeasured -warmup block per
// target.
func runSat(args []string) error {
	fs := flag.NewFlagSet("sat", flag.ExitOnError)
	var c common
	c.register(fs)
	conns := fs.Int("c", 64, "connections")
	dur := fs.Duration("d", 5*time.Second, "measured time per target and round")
	slices := fs.Int("slices", 5, "blocks per target and round")
	warm := fs.Duration("warmup", time.Second, "unmeasured block per target at the start")
	hz := fs.Float64("hz", 100, "clock ticks per second (getconf CLK_TCK)")
	upstream := fs.String("upstream", "", "the fake upstream's base URL, to count the connections it accepts (none when empty)")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	if *slices < 1 || *conns < 1 {
		return fmt.Errorf("want -slices >= 1 and -c >= 1")
	}
	clients := make([]*httpClient, len(c.targets))
	for i := range clients {
		cl, tr := client(*conns, 10*time.Second)
		clients[i] = &httpClient{cl, tr}
		defer tr.CloseIdleConnections()
	}
	fmt.Fprintf(os.Stderr, "loadgen: sat: %d connections; %v warm-up, then %d round(s) of %d×%v per target, interleaved\n",
		*conns, *warm, c.rounds, *slices, *dur/time.Duration(*slices))
	for i, t := range c.targets {
		var discard satBlock
		if err := discard.run(clients[i], t, *conns, *warm, *upstream); err != nil {
			return err
		}
		if discard.errs > 0 {
			return fmt.Errorf("sat warm-up via %s: %d requests failed (%v)", t.Name, discard.errs, discard.firstErr)
		}
	}
	for r := 1; r <= c.rounds; r++ {
		acc := make([]satBlock, len(c.targets))
		for s := 0; s < *slices; s++ {
			for j := range c.targets {
				i := (j + r - 1 + s) % len(c.targets)
				if err := acc[i].run(clients[i], c.targets[i], *conns, *dur/time.Duration(*slices), *upstream); err != nil {
					return err
				}
			}
		}
		for i, t := range c.targets {
			a := &acc[i]
			res := result{Case: "sat", Target: t.Name, Round: r, Conns: *conns, Errors: a.errs}
			if a.firstErr != nil {
				res.ErrorSample = a.firstErr.Error()
			}
			sort.Float64s(a.lat)
			res.N = len(a.lat)
			res.RPS = float64(len(a.lat)) / a.elapsed.Seconds()
			res.P50, res.P90, res.P99 = pct(a.lat, 50), pct(a.lat, 90), pct(a.lat, 99)
			if len(t.PIDs) > 0 && len(a.lat) > 0 {
				res.CPUPerUS = float64(a.ticks) / *hz * 1e6 / float64(len(a.lat))
			}
			if *upstream != "" && len(a.lat) > 0 {
				res.UpConnsPer1k = float64(a.upConns) * 1000 / float64(len(a.lat))
			}
			if err := writeResult(c.dir, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// satBlock accumulates a target's blocks of one round.
type satBlock struct {
	lat      []float64
	errs     int
	firstErr error
	ticks    int64
	upConns  int64
	elapsed  time.Duration
}

// run keeps conns requests in flight through t for d, bounded in time by d
// and in count by the client's timeout per request.
func (a *satBlock) run(hc *httpClient, t target, conns int, d time.Duration, upstream string) error {
	ticks0, err := cpuTicks(t.PIDs)
	if err != nil {
		return fmt.Errorf("cpu time of %s: %v", t.Name, err)
	}
	up0, err := upstreamConns(upstream)
	if err != nil {
		return err
	}
	start := time.Now()
	end := start.Add(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4<<10)
			local := make([]float64, 0, 1024)
			var lerrs int
			var lfirst error
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := completion(hc.c, t, 0, buf); err != nil {
					lerrs++
					if lfirst == nil {
						lfirst = err
					}
					continue
				}
				local = append(local, ms(time.Since(t0)))
			}
			mu.Lock()
			a.lat = append(a.lat, local...)
			a.errs += lerrs
			if a.firstErr == nil {
				a.firstErr = lfirst
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	a.elapsed += time.Since(start)
	ticks1, err := cpuTicks(t.PIDs)
	if err != nil {
		return fmt.Errorf("cpu time of %s: %v", t.Name, err)
	}
	a.ticks += ticks1 - ticks0
	up1, err := upstreamConns(upstream)
	if err != nil {
		return err
	}
	a.upConns += up1 - up0
	return nil
}

// upstreamConns asks the fake upstream how many connections it has
// accepted; 0 when upstream is empty.
func upstreamConns(upstream string) (int64, error) {
	if upstream == "" {
		return 0, nil
	}
	resp, err := http.Get(upstream + "/bench/conns")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	if _, err := fmt.Fscan(resp.Body, &n); err != nil {
		return 0, fmt.Errorf("%s/bench/conns: %v", upstream, err)
	}
	// This request's own connection is one of them.
	return n - 1, nil
}
