// Command loadgen is the load generator and reporter of bench/proxy/run.sh.
// Each measuring subcommand runs one case for -rounds rounds against every
// -t target, the targets interleaved so that they share the machine's
// drifting load: seq alternates them request by request, sse batch by
// batch, paced and sat in -slices short blocks per target and round; the
// order rotates from round to round. It writes one JSON result per case,
// target and round into -dir:
//
//	loadgen seq     -n 1000 -warmup 50      one request at a time
//	loadgen paced   -rate 200 -delay 300ms  open loop, latency from the scheduled send
//	loadgen sse     -streams 100 -events 50 concurrent event streams
//	loadgen sat     -c 64                   closed loop, requests/s and the proxy's CPU per request
//	loadgen startup -runs 5 -s NAME=BIN:EMPTY_HOME:LEDGER_HOME   okv run --proxy -- true
//	loadgen ledger  -dir VAULT -n 200000    grow a vault's usage ledger from the records okv wrote
//	loadgen report  -dir DIR                the tables of all results, with the goals
//	loadgen freeport                        a free loopback TCP port
//
// A target is -t NAME,URL,TOKENVAR[,PID+PID…]: requests go to URL with
// "Authorization: Bearer $TOKENVAR" (the token comes from the environment,
// never argv); the PIDs are the proxy's processes, whose CPU time (sat) and
// peak RSS (sse) are read from /proc. Every loop is bounded in count and in
// time, and only loopback URLs are accepted.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen seq|paced|sse|sat|startup|ledger|report|freeport …")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"seq": runSeq, "paced": runPaced, "sse": runSSE, "sat": runSat,
		"startup": runStartup, "ledger": runLedger, "report": runReport, "freeport": freePort,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := f(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
