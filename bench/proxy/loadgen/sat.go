package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// runSat: case 4. -c connections each send the next request as soon as the
// last is answered (the mock upstream answers at once) for warm-up plus
// -d: requests/s, and the proxy's CPU time per request over the measured
// part (from /proc/PID/stat of the target's processes). No user waits like
// this; it is there to catch regressions.
func runSat(args []string) error {
	fs := flag.NewFlagSet("sat", flag.ExitOnError)
	var c common
	c.register(fs)
	conns := fs.Int("c", 64, "connections")
	dur := fs.Duration("d", 5*time.Second, "measured duration per target and round")
	warm := fs.Duration("warmup", time.Second, "unmeasured lead-in per target and round")
	hz := fs.Float64("hz", 100, "clock ticks per second (getconf CLK_TCK)")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	for r := 1; r <= c.rounds; r++ {
		for _, t := range c.order(r) {
			fmt.Fprintf(os.Stderr, "loadgen: sat round %d via %s: %d connections for %v+%v\n", r, t.Name, *conns, *warm, *dur)
			res, err := saturate(t, r, *conns, *warm, *dur, *hz)
			if err != nil {
				return err
			}
			if err := writeResult(c.dir, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func saturate(t target, round, conns int, warm, dur time.Duration, hz float64) (result, error) {
	res := result{Case: "sat", Target: t.Name, Round: round, Conns: conns}
	cl, tr := client(conns, 10*time.Second)
	defer tr.CloseIdleConnections()
	start := time.Now()
	from, end := start.Add(warm), start.Add(warm+dur)

	var ticks0 int64
	var cpuErr error
	cpuOnce := sync.OnceFunc(func() { ticks0, cpuErr = cpuTicks(t.PIDs) })
	go func() {
		time.Sleep(time.Until(from))
		cpuOnce()
	}()

	var mu sync.Mutex
	var wg sync.WaitGroup
	var lat []float64
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4<<10)
			local := make([]float64, 0, 4096)
			var lerr []error
			// Bounded in time by end, and in count by the client's
			// timeout per request.
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				err := completion(cl, t, 0, buf)
				t1 := time.Now()
				if t0.Before(from) || t1.After(end) {
					continue
				}
				if err != nil {
					lerr = append(lerr, err)
					continue
				}
				local = append(local, ms(t1.Sub(t0)))
			}
			mu.Lock()
			lat = append(lat, local...)
			for _, e := range lerr {
				res.fail(e)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Read right at the end of the measured window (the loops stop
	// starting requests then; the last ones finish just after).
	ticks1, err := cpuTicks(t.PIDs)
	cpuOnce()
	if cpuErr != nil || err != nil {
		return res, fmt.Errorf("cpu time of %s: %v %v", t.Name, cpuErr, err)
	}
	sort.Float64s(lat)
	res.N = len(lat)
	res.RPS = float64(len(lat)) / dur.Seconds()
	res.P50, res.P90, res.P99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
	if len(t.PIDs) > 0 && len(lat) > 0 {
		res.CPUPerUS = float64(ticks1-ticks0) / hz * 1e6 / float64(len(lat))
	}
	return res, nil
}
