// Command loadgen is the load generator of bench/proxy/run.sh.
//
//	loadgen run -url URL [-token T] [-c 64] [-d 10s] [-warmup 2s] [-stream] [-rate R] -target NAME [-round N] -o FILE
//	    keeps -c connections busy POSTing a chat completion request for
//	    warmup+d and writes requests/s, latency and time-to-first-byte
//	    percentiles (of the requests finished after the warm-up) to FILE
//	loadgen freeport
//	    prints a free loopback TCP port
//	loadgen report -dir DIR [-rss-kb N] [-nginx-rss-kb N]
//	    prints the table of all results in DIR (of one or more rounds) with
//	    ratios against direct and nginx
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

type result struct {
	Target   string  `json:"target"`
	Mode     string  `json:"mode"` // "json", "paced" or "stream"
	Round    int     `json:"round"`
	Conns    int     `json:"conns"`
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	TTFB50MS float64 `json:"ttfb_p50_ms"`
	TTFB99MS float64 `json:"ttfb_p99_ms"`
	// AllRequests counts the warm-up too, for CPU time per request.
	AllRequests int `json:"all_requests"`
	// CPUSeconds is the proxy's CPU time during the run (from run.sh).
	CPUSeconds float64 `json:"-"`
	// Switches is the proxy's context switches during the run (from run.sh).
	Switches float64 `json:"-"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen run|freeport|report …")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "freeport":
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			fmt.Println(l.Addr().(*net.TCPAddr).Port)
			l.Close()
		}
	case "report":
		err = report(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type sample struct{ lat, ttfb time.Duration }

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	url := fs.String("url", "", "endpoint, e.g. http://127.0.0.1:8080/v1/chat/completions")
	token := fs.String("token", "", "bearer token (none when empty)")
	conns := fs.Int("c", 64, "concurrent connections")
	dur := fs.Duration("d", 10*time.Second, "measured duration")
	warm := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up")
	stream := fs.Bool("stream", false, "ask for a streamed completion")
	rate := fs.Float64("rate", 0, "pace requests at this many per second in all (0: as fast as answered)")
	target := fs.String("target", "", "name of the target, for the report")
	round := fs.Int("round", 1, "round number, for the report")
	out := fs.String("o", "", "result file")
	fs.Parse(args)
	if *url == "" || *out == "" {
		return fmt.Errorf("run needs -url and -o")
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}`)
	mode := "json"
	if *stream {
		body = []byte(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`)
		mode = "stream"
	}
	if *rate > 0 {
		mode = "paced"
	}
	tr := &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	start := time.Now()
	measureFrom := start.Add(*warm)
	end := measureFrom.Add(*dur)

	var mu sync.Mutex
	var samples []sample
	errs, all := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			local := make([]sample, 0, 4096)
			lerrs, lall := 0, 0
			buf := make([]byte, 32<<10)
			var next time.Time
			if *rate > 0 {
				next = start.Add(time.Duration(float64(i) * float64(time.Second) / *rate))
			}
			for {
				if *rate > 0 {
					// Each connection sends every conns/rate seconds.
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(time.Duration(float64(*conns) * float64(time.Second) / *rate))
				}
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				req, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if *token != "" {
					req.Header.Set("Authorization", "Bearer "+*token)
				}
				resp, err := client.Do(req)
				if err != nil {
					if t0.After(measureFrom) {
						lerrs++
					}
					continue
				}
				_, err = io.ReadAtLeast(resp.Body, buf[:1], 1)
				ttfb := time.Since(t0)
				if err == nil {
					_, err = io.CopyBuffer(io.Discard, resp.Body, buf)
				}
				resp.Body.Close()
				t1 := time.Now()
				if err == nil && resp.StatusCode == 200 {
					lall++
				}
				if t0.Before(measureFrom) || t1.After(end) {
					continue
				}
				if err != nil || resp.StatusCode != 200 {
					lerrs++
					continue
				}
				local = append(local, sample{lat: t1.Sub(t0), ttfb: ttfb})
			}
			mu.Lock()
			samples = append(samples, local...)
			errs += lerrs
			all += lall
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	tr.CloseIdleConnections()

	lat := make([]float64, len(samples))
	ttfb := make([]float64, len(samples))
	for i, s := range samples {
		lat[i] = float64(s.lat) / 1e6
		ttfb[i] = float64(s.ttfb) / 1e6
	}
	sort.Float64s(lat)
	sort.Float64s(ttfb)
	r := result{Target: *target, Mode: mode, Round: *round, Conns: *conns, Seconds: dur.Seconds(), Requests: len(samples), Errors: errs,
		RPS:   float64(len(samples)) / dur.Seconds(),
		P50MS: pct(lat, 50), P99MS: pct(lat, 99), TTFB50MS: pct(ttfb, 50), TTFB99MS: pct(ttfb, 99), AllRequests: all}
	b, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(*out, append(b, '\n'), 0o644)
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "folder of result files")
	rss := fs.Int64("rss-kb", 0, "okv proxy peak RSS (VmHWM, kB)")
	nginxRSS := fs.Int64("nginx-rss-kb", 0, "nginx peak RSS, master and workers summed (kB)")
	fs.Parse(args)
	files, err := filepath.Glob(filepath.Join(*dir, "*.json"))
	if err != nil {
		return err
	}
	// res[mode][target][round]
	res := map[string]map[string]map[int]result{}
	rounds := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		// run.sh leaves "TICKS HZ SWITCHES" in a .cpu file next to the result.
		if c, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".cpu"); err == nil {
			var ticks, hz, sw float64
			n, _ := fmt.Sscan(string(c), &ticks, &hz, &sw)
			if n >= 2 && hz > 0 {
				r.CPUSeconds = ticks / hz
			}
			if n == 3 {
				r.Switches = sw
			}
		}
		if res[r.Mode] == nil {
			res[r.Mode] = map[string]map[int]result{}
		}
		if res[r.Mode][r.Target] == nil {
			res[r.Mode][r.Target] = map[int]result{}
		}
		res[r.Mode][r.Target][r.Round] = r
		rounds = max(rounds, r.Round)
	}
	// byRound applies f to the results of targets a and b of each round
	// that has both, in round order.
	byRound := func(m map[string]map[int]result, a, b string, f func(x, y result) float64) []float64 {
		var out []float64
		for i := 1; i <= rounds; i++ {
			x, ok1 := m[a][i]
			y, ok2 := m[b][i]
			if ok1 && ok2 {
				out = append(out, f(x, y))
			}
		}
		return out
	}
	// over is the median over the rounds of one target of f.
	over := func(rs map[int]result, f func(result) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	ratio := func(v []float64) string {
		if m := median(v); !math.IsNaN(m) {
			return fmt.Sprintf("%.2fx", m)
		}
		return "-"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d round(s), the targets interleaved; a row holds the medians over the rounds, a ratio the\n", rounds)
	sb.WriteString("median of the ratios measured within each round.\n\n")
	fmt.Fprintf(&sb, "%-7s %-7s %9s %8s %8s %9s %9s %5s %11s %7s | %-22s | %-22s\n",
		"mode", "target", "req/s", "p50 ms", "p99 ms", "ttfb p50", "ttfb p99", "errs", "cpu µs/req", "cs/req",
		"req/s vs direct/nginx", "p99 vs direct/nginx")
	for _, mode := range []string{"json", "paced", "stream"} {
		m := res[mode]
		if m == nil {
			continue
		}
		p99of := func(r result) float64 {
			if mode == "stream" { // what matters for a stream is its first byte
				return r.TTFB99MS
			}
			return r.P99MS
		}
		for _, t := range []string{"direct", "okv", "nginx"} {
			rs, ok := m[t]
			if !ok {
				continue
			}
			errs, all, cpuSec, switches := 0, 0, 0.0, 0.0
			for _, r := range rs {
				errs += r.Errors
				all += r.AllRequests
				cpuSec += r.CPUSeconds
				switches += r.Switches
			}
			cpu, cs := "-", "-"
			if cpuSec > 0 && all > 0 {
				cpu = fmt.Sprintf("%.0f", cpuSec*1e6/float64(all))
			}
			if switches > 0 && all > 0 {
				cs = fmt.Sprintf("%.2f", switches/float64(all))
			}
			rps := func(x, y result) float64 { return x.RPS / y.RPS }
			p99 := func(x, y result) float64 { return p99of(x) / p99of(y) }
			fmt.Fprintf(&sb, "%-7s %-7s %9.0f %8.2f %8.2f %9.2f %9.2f %5d %11s %7s | %-10s %-11s | %-10s %-11s\n",
				mode, t, over(rs, func(r result) float64 { return r.RPS }),
				over(rs, func(r result) float64 { return r.P50MS }), over(rs, func(r result) float64 { return r.P99MS }),
				over(rs, func(r result) float64 { return r.TTFB50MS }), over(rs, func(r result) float64 { return r.TTFB99MS }),
				errs, cpu, cs,
				ratio(byRound(m, t, "direct", rps)), ratio(byRound(m, t, "nginx", rps)),
				ratio(byRound(m, t, "direct", p99)), ratio(byRound(m, t, "nginx", p99)))
		}
	}
	sb.WriteString("(stream rows: the p99 ratios compare time to first byte; cpu and cs: the proxy's CPU time and\n")
	sb.WriteString("context switches per request)\n")
	list := func(v []float64, format string) string {
		var parts []string
		for _, x := range v {
			parts = append(parts, fmt.Sprintf(format, x))
		}
		return strings.Join(parts, " ")
	}
	for _, mode := range []string{"json", "stream"} {
		if m := res[mode]; m != nil {
			v := byRound(m, "okv", "nginx", func(x, y result) float64 { return x.RPS / y.RPS })
			fmt.Fprintf(&sb, "%s req/s, okv/nginx by round: %s (median %.2f)\n", mode, list(v, "%.2f"), median(v))
		}
	}
	if m := res["paced"]; m != nil {
		for _, t := range []string{"okv", "nginx"} {
			p50 := byRound(m, t, "direct", func(x, y result) float64 { return x.P50MS - y.P50MS })
			p99 := byRound(m, t, "direct", func(x, y result) float64 { return x.P99MS - y.P99MS })
			if len(p50) > 0 {
				fmt.Fprintf(&sb, "paced at %.0f req/s: %s adds %.2f ms at p50, %.2f ms at p99 over direct (by round, p99: %s)\n",
					over(m[t], func(r result) float64 { return r.RPS }), t, median(p50), median(p99), list(p99, "%+.2f"))
			}
		}
	}
	if m := res["stream"]; m != nil {
		for _, t := range []string{"okv", "nginx"} {
			d := byRound(m, t, "direct", func(x, y result) float64 { return x.TTFB50MS - y.TTFB50MS })
			if len(d) > 0 {
				fmt.Fprintf(&sb, "stream: %s adds %.2f ms to the first byte at p50 over direct (by round: %s)\n",
					t, median(d), list(d, "%+.2f"))
			}
		}
	}
	if *rss > 0 {
		fmt.Fprintf(&sb, "okv proxy peak RSS (VmHWM): %.1f MiB\n", float64(*rss)/1024)
	}
	if *nginxRSS > 0 {
		fmt.Fprintf(&sb, "nginx peak RSS (VmHWM, master+workers): %.1f MiB\n", float64(*nginxRSS)/1024)
	}
	fmt.Print(sb.String())
	return nil
}

// median of v; NaN when v is empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
