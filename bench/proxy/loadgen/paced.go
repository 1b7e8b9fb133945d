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
func runPaced(args []string) error {
	fs := flag.NewFlagSet("paced", flag.ExitOnError)
	var c common
	c.register(fs)
	rate := fs.Float64("rate", 200, "requests per second")
	delay := fs.Duration("delay", 300*time.Millisecond, "the upstream's answer time")
	dur := fs.Duration("d", 5*time.Second, "measured duration per target and round")
	warm := fs.Duration("warmup", time.Second, "unmeasured lead-in per target and round")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	if *rate <= 0 || *rate > 5000 {
		return fmt.Errorf("-rate %v: want 0 < rate <= 5000", *rate)
	}
	for r := 1; r <= c.rounds; r++ {
		for _, t := range c.order(r) {
			fmt.Fprintf(os.Stderr, "loadgen: paced round %d via %s: %.0f req/s for %v+%v, upstream answers in %v\n", r, t.Name, *rate, *warm, *dur, *delay)
			res := paced(t, r, *rate, *delay, *warm, *dur)
			if err := writeResult(c.dir, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func paced(t target, round int, rate float64, delay, warm, dur time.Duration) result {
	res := result{Case: "paced", Target: t.Name, Round: round}
	inflight := int(rate*delay.Seconds()) + 64
	cl, tr := client(inflight, delay+10*time.Second)
	defer tr.CloseIdleConnections()
	period := time.Duration(float64(time.Second) / rate)
	total := int((warm + dur) / period)
	measured := int(warm / period) // requests due before this are warm-up

	var mu sync.Mutex
	var wg sync.WaitGroup
	var lat, lag []float64
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * period)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			sent := time.Now()
			buf := make([]byte, 4<<10)
			err := completion(cl, t, delay, buf)
			done := time.Now()
			if i < measured {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.fail(err)
				return
			}
			lat = append(lat, ms(done.Sub(due)))
			lag = append(lag, ms(sent.Sub(due)))
		}(i, due)
	}
	wg.Wait()
	sort.Float64s(lat)
	sort.Float64s(lag)
	res.N = len(lat)
	res.P50, res.P90, res.P99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
	res.SendLag99 = pct(lag, 99)
	res.RPS = float64(total-measured) / dur.Seconds()
	return res
}
