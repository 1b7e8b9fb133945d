// Command okvproxy runs okv's proxy (package proxy) for the benchmark, without
// the CLI or a vault: it listens on 127.0.0.1:0 in front of -upstream with a
// fake key, appends usage records to -ledger, prints "ADDR TOKEN" on stdout
// and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/okvault/okv/proxy"
)

func main() {
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:8080")
	key := flag.String("key", "sk-bench-real-key", "API key sent upstream")
	ledger := flag.String("ledger", "", "usage ledger file (none when empty)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until stopped")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	up, err := url.Parse(*upstream)
	if err != nil || *upstream == "" {
		log.Fatalf("okvproxy: -upstream: %v", err)
	}
	tok, err := proxy.NewToken()
	if err != nil {
		log.Fatal(err)
	}
	cfg := proxy.Config{Profile: "bench", Upstream: up, APIKey: *key, Token: tok,
		ErrorLog: log.New(os.Stderr, "okvproxy: ", 0)}
	if *ledger != "" {
		fl := &proxy.FileLedger{Path: *ledger}
		defer fl.Close()
		cfg.Ledger = fl
	}
	proxy.TuneGC(os.Getenv) // as okv run --proxy and okv proxy do
	p, err := proxy.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s\n", l.Addr(), tok)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	}()
	if err := p.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}
