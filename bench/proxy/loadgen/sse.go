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
// [DONE] or with events missing, and the proxy's peak RSS over the round
// (VmHWM, reset at the round's start where the kernel allows). A round is
// -batches batches per target, the targets taking turns batch by batch.
func runSSE(args []string) error {
	fs := flag.NewFlagSet("sse", flag.ExitOnError)
	var c common
	c.register(fs)
	streams := fs.Int("streams", 100, "concurrent streams")
	events := fs.Int("events", 50, "content events per stream (as the upstream sends)")
	batches := fs.Int("batches", 3, "batches of -streams streams per target and round")
	limit := fs.Duration("max", 30*time.Second, "a stream's time limit")
	stagger := fs.Duration("stagger", 20*time.Millisecond, "spread the starts of a batch's streams over this (the upstream's gap, so that their events do not all fall at one instant)")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	// One client per target for the whole case, as one program's would
	// be, and one unmeasured batch through each first: it opens the
	// connections, and the first streams of a process (goroutine stacks,
	// buffers) cost more than the rest.
	clients := make([]*httpClient, len(c.targets))
	for i, t := range c.targets {
		cl, tr := client(*streams, *limit)
		clients[i] = &httpClient{cl, tr}
		defer tr.CloseIdleConnections()
		var warm result
		sseBatch(clients[i].c, t, &warm, *streams, *events, *stagger)
		if warm.Errors > 0 {
			return fmt.Errorf("sse warm-up via %s: %d of %d streams failed (%s)", t.Name, warm.Errors, *streams, warm.ErrorSample)
		}
	}
	type acc struct{ first, gaps, transit []float64 }
	for r := 1; r <= c.rounds; r++ {
		fmt.Fprintf(os.Stderr, "loadgen: sse round %d: %d×%d streams of %d events per target, interleaved by batch\n", r, *batches, *streams, *events)
		res := make([]result, len(c.targets))
		accs := make([]acc, len(c.targets))
		for i, t := range c.targets {
			res[i] = result{Case: "sse", Target: t.Name, Round: r, N: *batches * *streams}
			if resetPeakRSS(t.PIDs) {
				res[i].RSSSince = "case"
			} else if len(t.PIDs) > 0 {
				res[i].RSSSince = "start"
			}
		}
		for b := 0; b < *batches; b++ {
			for j := range c.targets {
				i := (j + r - 1 + b) % len(c.targets)
				f, g, tr := sseBatch(clients[i].c, c.targets[i], &res[i], *streams, *events, *stagger)
				a := &accs[i]
				a.first, a.gaps, a.transit = append(a.first, f...), append(a.gaps, g...), append(a.transit, tr...)
			}
		}
		for i, t := range c.targets {
			a := &accs[i]
			res[i].RSSKB = peakRSS(t.PIDs)
			sort.Float64s(a.first)
			sort.Float64s(a.gaps)
			sort.Float64s(a.transit)
			res[i].FirstByte50, res[i].FirstByte99 = pct(a.first, 50), pct(a.first, 99)
			res[i].Gap50, res[i].Gap99 = pct(a.gaps, 50), pct(a.gaps, 99)
			res[i].Transit50, res[i].Transit99 = pct(a.transit, 50), pct(a.transit, 99)
			if err := writeResult(c.dir, res[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// sseBatch runs n streams at once (their starts spread evenly over
// stagger) and returns their first-event times,
// inter-event gaps and event transit times (ms); failures and short streams
// go into res.
func sseBatch(cl *http.Client, t target, res *result, n, events int, stagger time.Duration) (first, gaps, transit []float64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(stagger * time.Duration(i) / time.Duration(n))
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
