package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// results[case][target][round]
type results map[string]map[string]map[int]result

func (rs results) rounds(c string) []int {
	seen := map[int]bool{}
	for _, byRound := range rs[c] {
		for r := range byRound {
			seen[r] = true
		}
	}
	var out []int
	for r := range seen {
		out = append(out, r)
	}
	sort.Ints(out)
	return out
}

// targets of case c: direct first, nginx last, the okv binaries between.
func (rs results) targets(c string) []string {
	var out []string
	for t := range rs[c] {
		out = append(out, t)
	}
	rank := func(t string) int {
		switch t {
		case "direct":
			return 0
		case "nginx":
			return 2
		}
		return 1
	}
	sort.Slice(out, func(i, j int) bool {
		if rank(out[i]) != rank(out[j]) {
			return rank(out[i]) < rank(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// med is the median over the rounds of f of target t's results.
func (rs results) med(c, t string, f func(result) float64) float64 {
	var v []float64
	for _, r := range rs[c][t] {
		v = append(v, f(r))
	}
	return median(v)
}

// paired is f(a's result, b's result) for each round that has both.
func (rs results) paired(c, a, b string, f func(x, y result) float64) []float64 {
	var out []float64
	for _, r := range rs.rounds(c) {
		x, ok1 := rs[c][a][r]
		y, ok2 := rs[c][b][r]
		if ok1 && ok2 {
			out = append(out, f(x, y))
		}
	}
	return out
}

func list(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " ")
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func isOKV(t string) bool { return strings.HasPrefix(t, "okv") }

// bare is the target name of bareproxy, the floor of a proxy on net/http.
const bare = "gobare"

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "folder of result files")
	fs.Parse(args)
	files, err := filepath.Glob(filepath.Join(*dir, "*.json"))
	if err != nil {
		return err
	}
	rs := results{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		if rs[r.Case] == nil {
			rs[r.Case] = map[string]map[int]result{}
		}
		if rs[r.Case][r.Target] == nil {
			rs[r.Case][r.Target] = map[int]result{}
		}
		rs[r.Case][r.Target][r.Round] = r
	}
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	p("Each case ran in interleaved rounds (the order of the targets rotating by round). A figure is the\n")
	p("median over the rounds; \"added\" is a target's figure minus the direct path's in the same round, as\n")
	p("the median over the rounds, with each round's value in brackets. Times in ms.\n")

	errs := 0
	var firstErr string
	countErrs := func(c string) int {
		n := 0
		for _, t := range rs.targets(c) {
			for _, r := range rs[c][t] {
				n += r.Errors
				if firstErr == "" && r.ErrorSample != "" {
					firstErr = fmt.Sprintf("%s via %s: %s", c, t, r.ErrorSample)
				}
			}
		}
		errs += n
		return n
	}
	sumErrs := func(c, t string) int {
		n := 0
		for _, r := range rs[c][t] {
			n += r.Errors
		}
		return n
	}
	added := func(c, t string, f func(result) float64) []float64 {
		return rs.paired(c, t, "direct", func(x, y result) float64 { return f(x) - f(y) })
	}
	addedStr := func(v []float64) string {
		if len(v) == 0 {
			return "-"
		}
		return fmt.Sprintf("%+.2f (%s)", median(v), list(v, "%+.2f"))
	}

	if _, ok := rs["seq"]; ok {
		n := 0
		for _, r := range rs["seq"]["direct"] {
			n = r.N
		}
		p("\n1. Sequential requests, one at a time, to a mock upstream that answers at once\n")
		p("   (%d measured per target and round, the targets alternating request by request)\n", n)
		p("   %-7s %8s %8s %8s %5s   %s\n", "target", "p50", "p90", "p99", "errs", "added p50")
		f50 := func(r result) float64 { return r.P50 }
		for _, t := range rs.targets("seq") {
			a := "-"
			if t != "direct" {
				a = addedStr(added("seq", t, f50))
			}
			p("   %-7s %8.3f %8.3f %8.3f %5d   %s\n", t, rs.med("seq", t, f50), rs.med("seq", t, func(r result) float64 { return r.P90 }),
				rs.med("seq", t, func(r result) float64 { return r.P99 }), sumErrs("seq", t), a)
		}
		for _, t := range rs.targets("seq") {
			if isOKV(t) {
				a := median(added("seq", t, f50))
				p("   goal: %s adds <= 0.30 ms at the median: %+.2f ms, %s\n", t, a, verdict(a <= 0.3))
			}
		}
		countErrs("seq")
	}

	if _, ok := rs["paced"]; ok {
		p("\n2. Paced open loop, %.0f req/s, upstream answering in 300 ms; latency from the scheduled send\n",
			rs.med("paced", "direct", func(r result) float64 { return r.RPS }))
		p("   %-7s %8s %8s %8s %5s %9s   %-26s %s\n", "target", "p50", "p90", "p99", "errs", "lag p99", "added p50", "added p99")
		f50 := func(r result) float64 { return r.P50 }
		f99 := func(r result) float64 { return r.P99 }
		for _, t := range rs.targets("paced") {
			a50, a99 := "-", "-"
			if t != "direct" {
				a50, a99 = addedStr(added("paced", t, f50)), addedStr(added("paced", t, f99))
			}
			p("   %-7s %8.2f %8.2f %8.2f %5d %9.2f   %-26s %s\n", t, rs.med("paced", t, f50), rs.med("paced", t, func(r result) float64 { return r.P90 }),
				rs.med("paced", t, f99), sumErrs("paced", t), rs.med("paced", t, func(r result) float64 { return r.SendLag99 }), a50, a99)
		}
		p("   (lag p99: how late the load generator itself sent, the same for every target)\n")
		var d99 []float64
		for _, r := range rs["paced"]["direct"] {
			d99 = append(d99, r.P99)
		}
		sort.Float64s(d99)
		if len(d99) > 0 {
			p("   the direct path's own p99 across rounds: %.2f to %.2f ms (spread %.2f ms)\n", d99[0], d99[len(d99)-1], d99[len(d99)-1]-d99[0])
		}
		for _, t := range rs.targets("paced") {
			if !isOKV(t) || rs["paced"]["nginx"] == nil {
				continue
			}
			v := rs.paired("paced", t, "nginx", func(x, y result) float64 { return x.P50 - y.P50 })
			p("   goal: %s's added p50 within 0.30 ms of nginx's: %+.2f ms (%s), %s\n", t, median(v), list(v, "%+.2f"), verdict(median(v) <= 0.3))
		}
		if rs["paced"][bare] != nil && rs["paced"]["nginx"] != nil {
			v := rs.paired("paced", bare, "nginx", func(x, y result) float64 { return x.P50 - y.P50 })
			p("         (the net/http floor, %s: %+.2f ms of nginx's (%s))\n", bare, median(v), list(v, "%+.2f"))
		}
		countErrs("paced")
	}

	if _, ok := rs["sse"]; ok {
		n := 0
		for _, r := range rs["sse"]["direct"] {
			n = r.N
		}
		p("\n3. Event streams: %d per target and round in batches of 100 at once (their starts spread over\n", n)
		p("   one gap), 50 events 20 ms apart\n")
		p("   %-7s %9s %9s %8s %8s %9s %9s %5s %5s %9s\n", "target", "first p50", "first p99", "gap p50", "gap p99",
			"trans p50", "trans p99", "cut", "errs", "peak RSS")
		fb := func(r result) float64 { return r.FirstByte50 }
		g99 := func(r result) float64 { return r.Gap99 }
		tr99 := func(r result) float64 { return r.Transit99 }
		for _, t := range rs.targets("sse") {
			cut := 0
			var rss int64
			for _, r := range rs["sse"][t] {
				cut += r.CutShort
				rss = max(rss, r.RSSKB)
			}
			rssS := "-"
			if rss > 0 {
				rssS = fmt.Sprintf("%.1f MiB", float64(rss)/1024)
			}
			p("   %-7s %9.2f %9.2f %8.2f %8.2f %9.2f %9.2f %5d %5d %9s\n", t, rs.med("sse", t, fb), rs.med("sse", t, func(r result) float64 { return r.FirstByte99 }),
				rs.med("sse", t, func(r result) float64 { return r.Gap50 }), rs.med("sse", t, g99),
				rs.med("sse", t, func(r result) float64 { return r.Transit50 }), rs.med("sse", t, tr99), cut, sumErrs("sse", t), rssS)
		}
		p("   (first: request sent to first event; gap: between consecutive events as they arrive; trans:\n")
		p("   an event's transit from the upstream's send to its arrival, the least noisy view of a held event)\n")
		for _, t := range rs.targets("sse") {
			if t != "direct" {
				p("   %s adds: first-byte p50 %s, gap p99 %s, transit p99 %s\n", t,
					addedStr(added("sse", t, fb)), addedStr(added("sse", t, g99)), addedStr(added("sse", t, tr99)))
			}
		}
		for _, t := range rs.targets("sse") {
			if !isOKV(t) {
				continue
			}
			if rs["sse"]["nginx"] != nil {
				v := rs.paired("sse", t, "nginx", func(x, y result) float64 { return x.Gap99 - y.Gap99 })
				p("   goal: %s's added inter-event p99 within 1 ms of nginx's: %+.2f ms (%s), %s\n", t, median(v), list(v, "%+.2f"), verdict(median(v) <= 1))
				v = rs.paired("sse", t, "nginx", func(x, y result) float64 { return x.Transit99 - y.Transit99 })
				p("         (transit p99 against nginx's: %+.2f ms (%s))\n", median(v), list(v, "%+.2f"))
				v = rs.paired("sse", t, "nginx", func(x, y result) float64 { return x.FirstByte50 - y.FirstByte50 })
				p("   goal: %s's added first-byte p50 within 1 ms of nginx's: %+.2f ms (%s), %s\n", t, median(v), list(v, "%+.2f"), verdict(median(v) <= 1))
				if rs["sse"][bare] != nil {
					v = rs.paired("sse", bare, "nginx", func(x, y result) float64 { return x.FirstByte50 - y.FirstByte50 })
					p("         (the net/http floor, %s: %+.2f ms of nginx's (%s))\n", bare, median(v), list(v, "%+.2f"))
				}
			}
			cut := 0
			for _, r := range rs["sse"][t] {
				cut += r.CutShort
			}
			p("   goal: no %s stream cut short: %d, %s\n", t, cut, verdict(cut == 0))
		}
		countErrs("sse")
	}

	if _, ok := rs["sat"]; ok {
		conns := 0
		for _, r := range rs["sat"]["direct"] {
			conns = r.Conns
		}
		p("\n4. Saturation: closed loop on %d connections to the mock upstream (no goal: it catches regressions)\n", conns)
		p("   %-7s %8s %8s %8s %5s %11s %8s   %-22s %s\n", "target", "req/s", "p50", "p99", "errs", "cpu µs/req", "conns/1k", "req/s vs nginx", "cpu/req vs nginx")
		for _, t := range rs.targets("sat") {
			r1, r2 := "-", "-"
			if t != "nginx" && rs["sat"]["nginx"] != nil {
				v := rs.paired("sat", t, "nginx", func(x, y result) float64 { return x.RPS / y.RPS })
				r1 = fmt.Sprintf("%.2fx (%s)", median(v), list(v, "%.2f"))
				if t != "direct" {
					v = rs.paired("sat", t, "nginx", func(x, y result) float64 { return x.CPUPerUS / y.CPUPerUS })
					r2 = fmt.Sprintf("%.2fx (%s)", median(v), list(v, "%.2f"))
				}
			}
			cpu := "-"
			if c := rs.med("sat", t, func(r result) float64 { return r.CPUPerUS }); c > 0 {
				cpu = fmt.Sprintf("%.0f", c)
			}
			p("   %-7s %8.0f %8.2f %8.2f %5d %11s %8.1f   %-22s %s\n", t, rs.med("sat", t, func(r result) float64 { return r.RPS }),
				rs.med("sat", t, func(r result) float64 { return r.P50 }), rs.med("sat", t, func(r result) float64 { return r.P99 }),
				sumErrs("sat", t), cpu, rs.med("sat", t, func(r result) float64 { return r.UpConnsPer1k }), r1, r2)
		}
		p("   (cpu: the proxy's own CPU time, okv's process or nginx's master and workers, per request;\n")
		p("   conns/1k: connections the upstream accepted per 1000 requests, 0 when they are kept alive)\n")
		countErrs("sat")
	}

	if rs["sse"] != nil || rs["startup"] != nil {
		p("\n5. Proxy peak RSS (VmHWM) over case 3, max over the rounds; start-up\n")
	}
	if _, ok := rs["sse"]; ok {
		for _, t := range rs.targets("sse") {
			var rss int64
			since := ""
			for _, r := range rs["sse"][t] {
				rss, since = max(rss, r.RSSKB), r.RSSSince
			}
			if rss == 0 {
				continue
			}
			note := ""
			if since == "start" {
				note = " (VmHWM could not be reset: the peak since the process started)"
			}
			mib := float64(rss) / 1024
			if isOKV(t) {
				p("   goal: %s <= 30 MiB: %.1f MiB, %s%s\n", t, mib, verdict(mib <= 30), note)
			} else {
				p("   %s: %.1f MiB (master and workers)%s\n", t, mib, note)
			}
		}
	}
	if _, ok := rs["startup"]; ok {
		p("   okv run --proxy -- true, empty usage ledger vs a large one (paired runs, alternating)\n")
		p("   %-18s %9s %10s %10s   %s\n", "binary", "empty", "ledger", "1st ledger", "ledger - empty")
		for _, t := range rs.targets("startup") {
			v := rs.paired("startup", t, t, func(x, _ result) float64 { return x.DiffMS })
			p("   %-18s %9.2f %10.2f %10.2f   %+.2f (%s)\n", t, rs.med("startup", t, func(r result) float64 { return r.EmptyMS }),
				rs.med("startup", t, func(r result) float64 { return r.LedgerMS }), rs["startup"][t][1].FirstMS, median(v), list(v, "%+.2f"))
		}
		p("   (1st ledger: the first, unmeasured run with the large ledger, which pays for what okv does once)\n")
		for _, t := range rs.targets("startup") {
			d := rs.med("startup", t, func(r result) float64 { return r.DiffMS })
			p("   goal: %s start-up with the large ledger within 5 ms of an empty one: %+.2f ms, %s\n", t, d, verdict(!math.IsNaN(d) && d <= 5))
		}
	}
	fmt.Print(sb.String())
	if errs > 0 {
		return fmt.Errorf("%d requests failed (first: %s)", errs, firstErr)
	}
	if len(rs) == 0 {
		return errors.New("no results in " + *dir)
	}
	return nil
}
