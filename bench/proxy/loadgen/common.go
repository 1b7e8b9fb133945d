package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// target is one path to the upstream: direct, through okv, through nginx.
type target struct {
	Name  string
	URL   string
	token string
	PIDs  []int
}

// targetsFlag collects -t NAME,URL,TOKENVAR[,PID+PID…].
type targetsFlag []target

func (t *targetsFlag) String() string { return fmt.Sprint(len(*t)) }

func (t *targetsFlag) Set(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) < 3 || len(parts) > 4 {
		return fmt.Errorf("-t %q: want NAME,URL,TOKENVAR[,PID+PID…]", s)
	}
	u, err := url.Parse(parts[1])
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("-t %q: want an http:// URL", s)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-t %q: the benchmark only talks to loopback addresses", s)
	}
	tok := os.Getenv(parts[2])
	if tok == "" {
		return fmt.Errorf("-t %q: $%s is empty", s, parts[2])
	}
	tg := target{Name: parts[0], URL: parts[1], token: tok}
	if len(parts) == 4 && parts[3] != "" {
		for _, p := range strings.Split(parts[3], "+") {
			pid, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("-t %q: bad pid %q", s, p)
			}
			tg.PIDs = append(tg.PIDs, pid)
		}
	}
	*t = append(*t, tg)
	return nil
}

// common are the flags every measuring subcommand takes.
type common struct {
	targets targetsFlag
	rounds  int
	dir     string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Var(&c.targets, "t", "target NAME,URL,TOKENVAR[,PID+PID…] (repeatable)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds")
	fs.StringVar(&c.dir, "dir", "", "folder for the result files")
}

func (c *common) check() error {
	if len(c.targets) == 0 || c.dir == "" || c.rounds < 1 {
		return errors.New("need -t, -dir and -rounds >= 1")
	}
	return nil
}

// order is the targets in the order of round r (1-based): rotated by r-1, so
// that no target always runs first (or last) while the machine's load drifts.
func (c *common) order(r int) []target {
	n := len(c.targets)
	out := make([]target, n)
	for i := range out {
		out[i] = c.targets[(i+r-1)%n]
	}
	return out
}

// result is one case's figures for one target in one round. Times in ms.
type result struct {
	Case   string `json:"case"`
	Target string `json:"target"`
	Round  int    `json:"round"`

	N           int    `json:"n"`      // measured requests (streams for sse, runs for startup)
	Errors      int    `json:"errors"` // failed requests: transport errors, non-200, wrong answers
	ErrorSample string `json:"error_sample,omitempty"`

	P50 float64 `json:"p50_ms,omitempty"`
	P90 float64 `json:"p90_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
	// SendLag99 is how late the load generator itself sent (paced), p99.
	SendLag99 float64 `json:"send_lag_p99_ms,omitempty"`

	// sse
	FirstByte50 float64 `json:"first_byte_p50_ms,omitempty"`
	FirstByte99 float64 `json:"first_byte_p99_ms,omitempty"`
	Gap50       float64 `json:"gap_p50_ms,omitempty"`
	Gap99       float64 `json:"gap_p99_ms,omitempty"`
	Transit50   float64 `json:"transit_p50_ms,omitempty"` // upstream's send to arrival, per event
	Transit99   float64 `json:"transit_p99_ms,omitempty"`
	CutShort    int     `json:"cut_short"`
	RSSKB       int64   `json:"rss_kb,omitempty"`
	RSSSince    string  `json:"rss_since,omitempty"` // "case" when VmHWM was reset before it, else "start"

	// sat
	Conns    int     `json:"conns,omitempty"`
	RPS      float64 `json:"rps,omitempty"`
	CPUPerUS float64 `json:"cpu_us_per_req,omitempty"`
	// UpConnsPer1k is the connections the upstream accepted per 1000 requests.
	UpConnsPer1k float64 `json:"upstream_conns_per_1k"`

	// startup
	EmptyMS  float64 `json:"empty_ms,omitempty"`
	LedgerMS float64 `json:"ledger_ms,omitempty"`
	DiffMS   float64 `json:"diff_ms,omitempty"`  // median of the paired (ledger - empty) differences
	FirstMS  float64 `json:"first_ms,omitempty"` // the first (unmeasured) run with the ledger, round 1 only
}

func (r *result) fail(err error) {
	r.Errors++
	if r.ErrorSample == "" && err != nil {
		r.ErrorSample = strings.TrimSpace(err.Error())
	}
}

func writeResult(dir string, r result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s_%s_%d.json", r.Case, r.Target, r.Round)
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// client is a fresh client per target and run: no connection of one run
// helps the next.
func client(conns int, timeout time.Duration) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns,
		DisableCompression: true, IdleConnTimeout: time.Minute,
		Proxy: nil, // never an HTTPS_PROXY from the environment
	}
	return &http.Client{Transport: tr, Timeout: timeout}, tr
}

var (
	chatBody   = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}`)
	streamBody = []byte(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`)
)

func newRequest(t target, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.token)
	return req
}

// completion sends one non-streamed chat completion and reads the answer
// whole. It fails on anything but a 200 with the fake upstream's body.
func completion(c *http.Client, t target, delay time.Duration, buf []byte) error {
	req := newRequest(t, chatBody)
	if delay > 0 {
		req.Header.Set("X-Bench-Delay", delay.String())
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, buf)
	if err != io.ErrUnexpectedEOF && err != nil && err != io.EOF {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, buf[:n])
	}
	if !bytes.Contains(buf[:n], []byte(`"chatcmpl-bench"`)) {
		return fmt.Errorf("not the fake upstream's answer: %.200s", buf[:n])
	}
	if delay > 0 && resp.Header.Get("X-Bench-Delay-Applied") != delay.String() {
		return errors.New("the upstream did not apply X-Bench-Delay (header not forwarded?)")
	}
	return nil
}

// pct is the p-th percentile of sorted (nearest rank); 0 when empty (a
// result with no samples has N 0 and its errors counted).
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
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
	}
	n := len(s)
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// cpuTicks is the summed user+system CPU time of the processes (all their
// threads), in clock ticks.
func cpuTicks(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// The command name may hold spaces: fields count from its ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: short", pid)
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + k
	}
	return sum, nil
}

// resetPeakRSS resets the processes' VmHWM to their current RSS (Linux
// 4.0+, clear_refs "5"); false when that is not possible here.
func resetPeakRSS(pids []int) bool {
	ok := len(pids) > 0
	for _, pid := range pids {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			ok = false
		}
	}
	return ok
}

// peakRSS is the processes' summed VmHWM in kB.
func peakRSS(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += kb
			}
		}
	}
	return sum
}

func freePort(args []string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

type httpClient struct {
	c  *http.Client
	tr *http.Transport
}
