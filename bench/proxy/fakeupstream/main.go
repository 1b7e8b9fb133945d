// Command fakeupstream is a small, fast stand-in for the OpenAI API used by
// bench/proxy/run.sh. It answers POST /v1/chat/completions with a canned
// chat completion, or, when the request body asks for "stream":true, with a
// server-sent event stream of -chunks chunks (the last one carrying usage),
// -delay apart. It prints its address on stdout and serves until killed.
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
	"strings"
	"time"
)

const completion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today? This is a canned answer from the benchmark's fake upstream."},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":19,"completion_tokens":21,"total_tokens":40}}`

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	chunks := flag.Int("chunks", 16, "content chunks per stream")
	delay := flag.Duration("delay", 2*time.Millisecond, "pause between stream chunks")
	flag.Parse()

	chunk := func(s string) []byte {
		return []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini",` +
			`"choices":[{"index":0,"delta":{"content":"` + s + `"},"finish_reason":null}],"usage":null}` + "\n\n")
	}
	usage := []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini",` +
		`"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":` + fmt.Sprint(*chunks) + `,"total_tokens":` + fmt.Sprint(19+*chunks) + `}}` + "\n\n")
	done := []byte("data: [DONE]\n\n")
	tok := chunk("tok")
	streamMarker := []byte(`"stream":true`)

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}`, 404)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(bytes.ReplaceAll(body, []byte(" "), nil), streamMarker) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", fmt.Sprint(len(completion)))
			io.WriteString(w, completion)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		f := w.(http.Flusher)
		for i := 0; i < *chunks; i++ {
			if i > 0 && *delay > 0 {
				time.Sleep(*delay)
			}
			if _, err := w.Write(tok); err != nil {
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
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	log.Fatal(srv.Serve(l))
}
