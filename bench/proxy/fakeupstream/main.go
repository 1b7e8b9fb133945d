// Command fakeupstream stands in for the OpenAI API in bench/proxy/run.sh.
//
// It answers POST /v1/chat/completions only when the request carries the
// real key (Authorization: Bearer $BENCH_KEY, from the environment, never
// argv), so a proxy that does not swap the credential fails every request
// instead of looking fast. A request with an X-Bench-Delay header (a Go
// duration) is answered after that delay, and the answer says which delay
// it applied in X-Bench-Delay-Applied, so the load generator can tell that
// the header reached the upstream. A body asking for "stream":true gets a
// server-sent event stream of -events content events, -gap apart (the first
// at once), each stamped with the time it was sent, then one usage event and data: [DONE]; anything else a canned
// chat completion. GET /bench/conns answers how many connections it has
// accepted (a proxy that does not keep its upstream connections alive shows
// there). It prints its address on stdout and serves until killed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

const completion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today? This is a canned answer from the benchmark's fake upstream."},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":19,"completion_tokens":21,"total_tokens":40}}`

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	events := flag.Int("events", 50, "content events per stream")
	gap := flag.Duration("gap", 20*time.Millisecond, "pause between stream events")
	flag.Parse()
	key := os.Getenv("BENCH_KEY")
	if key == "" {
		log.Fatal("fakeupstream: BENCH_KEY is not set")
	}
	wantAuth := "Bearer " + key

	// Each content event starts with the time it was sent ({"t":UNIX_NS,…}),
	// so the load generator, on the same machine and clock, can tell how
	// long the event took to arrive.
	eventHead := []byte(`data: {"t":`)
	eventTail := []byte(`,"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"delta":{"content":"tok"},"finish_reason":null}],"usage":null}` + "\n\n")
	usage := []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini",` +
		`"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":` + fmt.Sprint(*events) + `,"total_tokens":` + fmt.Sprint(19+*events) + `}}` + "\n\n")
	done := []byte("data: [DONE]\n\n")
	streamMarker := []byte(`"stream":true`)

	var conns atomic.Int64 // connections accepted
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/bench/conns" {
			fmt.Fprintln(w, conns.Load())
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != wantAuth {
			http.Error(w, `{"error":{"message":"bad key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if v := r.Header.Get("X-Bench-Delay"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Minute {
				http.Error(w, "bad X-Bench-Delay", http.StatusBadRequest)
				return
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
			w.Header().Set("X-Bench-Delay-Applied", v)
		}
		if !bytes.Contains(bytes.ReplaceAll(body, []byte(" "), nil), streamMarker) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", fmt.Sprint(len(completion)))
			io.WriteString(w, completion)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		f := w.(http.Flusher)
		tick := time.NewTicker(*gap)
		defer tick.Stop()
		event := make([]byte, 0, 512)
		for i := 0; i < *events; i++ {
			if i > 0 {
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				}
			}
			event = append(strconv.AppendInt(append(event[:0], eventHead...), time.Now().UnixNano(), 10), eventTail...)
			if _, err := w.Write(event); err != nil {
				return
			}
			f.Flush()
		}
		w.Write(usage)
		w.Write(done)
	})
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, l.Addr().String())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
	log.Fatal(srv.Serve(l))
}
