package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// runSSE: case 3. -streams event streams at once, each on its own
// connection; the upstream sends -events content events -gap apart, then a
// usage event and [DONE]. Per target: the time from sending to the first
// event, the gaps between consecutive content events as they arrive (a proxy
// that holds an event back widens them), the streams that ended before
// [DONE] or with events missing, and the proxy's peak RSS over its run
// (VmHWM, reset before the run where the kernel allows).
func runSSE(args []string) error {
	fs := flag.NewFlagSet("sse", flag.ExitOnError)
	var c common
	c.register(fs)
	streams := fs.Int("streams", 100, "concurrent streams")
	events := fs.Int("events", 50, "content events per stream (as the upstream sends)")
	batches := fs.Int("batches", 2, "batches of -streams streams per target and round")
	limit := fs.Duration("max", 30*time.Second, "a stream's time limit")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	// One unmeasured batch through each target first: the first streams of
	// a process (goroutine stacks, buffers, fresh connections upstream)
	// cost more than the rest, and would fall on round 1's first target.
	for _, t := range c.targets {
		var warm result
		sseBatch(t, &warm, *streams, *events, *limit)
		if warm.Errors > 0 {
			return fmt.Errorf("sse warm-up via %s: %d of %d streams failed (%s)", t.Name, warm.Errors, *streams, warm.ErrorSample)
		}
	}
	for r := 1; r <= c.rounds; r++ {
		for _, t := range c.order(r) {
			fmt.Fprintf(os.Stderr, "loadgen: sse round %d via %s: %d×%d streams of %d events\n", r, t.Name, *batches, *streams, *events)
			res := result{Case: "sse", Target: t.Name, Round: r}
			if resetPeakRSS(t.PIDs) {
				res.RSSSince = "case"
			} else if len(t.PIDs) > 0 {
				res.RSSSince = "start"
			}
			var first, gaps, transit []float64
			for b := 0; b < *batches; b++ {
				f, g, tr := sseBatch(t, &res, *streams, *events, *limit)
				first, gaps, transit = append(first, f...), append(gaps, g...), append(transit, tr...)
			}
			res.RSSKB = peakRSS(t.PIDs)
			sort.Float64s(first)
			sort.Float64s(gaps)
			sort.Float64s(transit)
			res.Transit50, res.Transit99 = pct(transit, 50), pct(transit, 99)
			res.N = *batches * *streams
			res.FirstByte50, res.FirstByte99 = pct(first, 50), pct(first, 99)
			res.Gap50, res.Gap99 = pct(gaps, 50), pct(gaps, 99)
			if err := writeResult(c.dir, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// sseBatch runs n streams at once and returns their first-event times,
// inter-event gaps and event transit times (ms); failures and short streams
// go into res.
func sseBatch(t target, res *result, n, events int, limit time.Duration) (first, gaps, transit []float64) {
	cl, tr := client(n, limit)
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f, g, tr, err := stream(cl, t, events)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.CutShort++
				res.fail(err)
				return
			}
			first = append(first, f)
			gaps = append(gaps, g...)
			transit = append(transit, tr...)
		}()
	}
	close(start)
	wg.Wait()
	return first, gaps, transit
}

var errShort = errors.New("stream cut short")

// stream reads one event stream; an error when it is not whole: a failed
// request, a status but 200, fewer content events than sent, or no [DONE].
// An event's transit is from the upstream's stamp ({"t":UNIX_NS,…}) to its
// arrival here.
func stream(cl *http.Client, t target, events int) (first float64, gaps, transit []float64, err error) {
	req := newRequest(t, streamBody)
	req.Header.Set("Accept", "text/event-stream")
	t0 := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil, nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	br := bufio.NewReaderSize(resp.Body, 8<<10)
	var last time.Time
	seen, done := 0, false
	gaps = make([]float64, 0, events)
	transit = make([]float64, 0, events)
	stamp := []byte(`data: {"t":`)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && bytes.HasPrefix(line, []byte("data: ")) {
			now := time.Now()
			switch {
			case bytes.HasPrefix(line, []byte("data: [DONE]")):
				done = true
			case seen < events:
				if seen == 0 {
					first = ms(now.Sub(t0))
				} else {
					gaps = append(gaps, ms(now.Sub(last)))
				}
				last = now
				seen++
				if rest, ok := bytes.CutPrefix(line, stamp); ok {
					if i := bytes.IndexByte(rest, ','); i > 0 {
						if ns, err := strconv.ParseInt(string(rest[:i]), 10, 64); err == nil {
							transit = append(transit, ms(now.Sub(time.Unix(0, ns))))
						}
					}
				}
			}
		}
		if err != nil {
			if seen < events || !done {
				return 0, nil, nil, fmt.Errorf("%w after %d of %d events (done %v): %v", errShort, seen, events, done, err)
			}
			if len(transit) != len(gaps)+1 {
				return 0, nil, nil, errors.New("events without the upstream's time stamp")
			}
			return first, gaps, transit, nil
		}
	}
}
