package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakeopenai
//
// Starts a loopback fake of the OpenAI API for this script (the live API
// cannot be reached here) and sets $FAKE_OPENAI to its base URL. It answers
// /v1/models, /v1/chat/completions (JSON, or server-sent events with a
// final usage chunk when stream_options.include_usage is set),
// /v1/embeddings, streamed /v1/responses and multipart /v1/files uploads
// in OpenAI's documented shapes, and appends every
// Authorization header it receives to $WORK/upstream-auth.log so a script
// can check which credential reached the upstream.
func cmdFakeOpenAI(ts *testscript.TestScript, neg bool, args []string) {
	logPath := ts.MkAbs("upstream-auth.log")
	var mu sync.Mutex
	record := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%s %s auth=%s org=%s\n", r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("OpenAI-Organization"))
			f.Close()
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk-") {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		fmt.Fprint(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"openai"}]}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var req struct {
			Model         string `json:"model"`
			Stream        bool   `json:"stream"`
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":%d,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`, time.Now().Unix(), req.Model)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i, word := range []string{"one", " two", " three"} {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", req.Model, word)
			fl.Flush()
			_ = i
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", req.Model)
		if req.StreamOptions.IncludeUsage {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5,\"total_tokens\":16}}\n\n", req.Model)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		fl.Flush()
	})
	mux.HandleFunc("POST /v1/embeddings", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var req struct {
			Model          string `json:"model"`
			EncodingFormat string `json:"encoding_format"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		vec := []float32{0.1, 0.2, 0.3, 0.4}
		emb, _ := json.Marshal(vec)
		if req.EncodingFormat == "base64" {
			// The SDK asks for base64 little-endian float32s by default.
			buf := make([]byte, 4*len(vec))
			for i, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
			}
			emb, _ = json.Marshal(base64.StdEncoding.EncodeToString(buf))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":%s}],"model":%q,"usage":{"prompt_tokens":2,"total_tokens":2}}`, emb, req.Model)
	})
	mux.HandleFunc("POST /v1/responses", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var req struct {
			Model string `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		// A streamed Responses API answer: typed events, the usage in
		// response.completed.
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		resp := func(status, usage string) string {
			return fmt.Sprintf(`{"id":"resp_1","object":"response","created_at":1,"status":%q,"model":%q,"output":[]%s}`, status, req.Model, usage)
		}
		fmt.Fprintf(w, "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":%s}\n\n", resp("in_progress", ""))
		for i, word := range []string{"one", " two"} {
			fmt.Fprintf(w, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":%d,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":%q}\n\n", i+1, word)
			fl.Flush()
		}
		fmt.Fprintf(w, "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":%s}\n\n",
			resp("completed", `,"usage":{"input_tokens":7,"output_tokens":4,"total_tokens":11}`))
		fl.Flush()
	})
	mux.HandleFunc("POST /v1/files", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		// A multipart upload: the file part and the purpose field.
		f, hdr, err := r.FormFile("file")
		if err != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","code":null}}`, err.Error())
			return
		}
		f.Close()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"file-1","object":"file","bytes":%d,"created_at":1,"filename":%q,"purpose":%q}`, hdr.Size, hdr.Filename, r.FormValue("purpose"))
	})
	srv := httptest.NewServer(mux)
	ts.Defer(srv.Close)
	ts.Setenv("FAKE_OPENAI", srv.URL)
}
