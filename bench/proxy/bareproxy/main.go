// Command bareproxy is the floor of a proxy on net/http, for
// bench/proxy/run.sh: what nginx does in the same run (check a bearer
// token, swap in the real key, log each request, stream without
// buffering), with httputil.ReverseProxy over a Transport set as okv's
// (a clone of http.DefaultTransport, 256 idle connections, 128 per host),
// and nothing else: no limits, no scrubbing, no usage records. The
// difference between okv and bareproxy is okv's own work; the difference
// between bareproxy and nginx is net/http's and the Go runtime's, which
// okv cannot cut without replacing net/http.
//
// The token and the key come from the environment (BARE_TOKEN, BENCH_KEY),
// never argv. It prints its address on stdout and serves until killed.
package main

import (
	"bufio"
	"crypto/subtle"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"
)

func main() {
	upstream := flag.String("upstream", "", "upstream base URL (http://host:port)")
	logPath := flag.String("log", "", "access log file, one line per request (as nginx's access_log)")
	flag.Parse()
	token, key := os.Getenv("BARE_TOKEN"), os.Getenv("BENCH_KEY")
	if token == "" || key == "" || *upstream == "" || *logPath == "" {
		log.Fatal("bareproxy: needs -upstream, -log, BARE_TOKEN and BENCH_KEY")
	}
	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	lf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	// nginx writes each access log line with its own write(2), unbuffered
	// by default: so does this, a line per request.
	var logMu sync.Mutex
	logw := bufio.NewWriterSize(lf, 512)

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	want := []byte("Bearer " + token)
	rp := &httputil.ReverseProxy{
		Transport:     t,
		FlushInterval: -1,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Host = up.Host
			r.Out.Header.Set("Authorization", "Bearer "+key)
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		start := time.Now()
		// As okv does for a body it streams (proxy.ServeHTTP): full duplex,
		// so an upstream that answers as the body ends does not cut the
		// answer (golang/go#40747), and the body closed in the handler
		// (golang/go#68560).
		http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
		r.Body.Close()
		logMu.Lock()
		fmt.Fprintf(logw, "%s %s %s %s\n", start.UTC().Format(time.RFC3339Nano), r.RemoteAddr, r.Method, r.URL.Path)
		logw.Flush()
		logMu.Unlock()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	log.Fatal((&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}
