package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakeadmin ADMINKEYFILE USAGEFILE
//
// Starts a loopback fake of OpenAI's Admin API usage report (the live API
// cannot be reached here, and needs an organization owner's admin key)
// and sets $FAKE_ADMIN to its base URL. It answers GET
// /v1/organization/usage/completions in the documented shape — a "page"
// of daily "bucket"s of "organization.usage.completions.result"s with
// num_model_requests and api_key_id, has_more and an opaque next_page
// cursor that the next request passes as ?page= — one bucket per page,
// and GET /v1/organization/costs with empty buckets. Only the admin key in
// ADMINKEYFILE is accepted. USAGEFILE, read at every request, holds lines
// "KEY_ID N": N requests with that key today (UTC). Each usage request's
// page parameter is appended to $WORK/admin-pages.log.
func cmdFakeAdmin(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: fakeadmin ADMINKEYFILE USAGEFILE")
	}
	admin := strings.TrimSpace(ts.ReadFile(args[0]))
	usagePath, logPath := ts.MkAbs(args[1]), ts.MkAbs("admin-pages.log")
	var mu sync.Mutex
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer "+admin {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"message":"Invalid authorization header","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /v1/organization/usage/completions", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !auth(w, r) {
			return
		}
		q := r.URL.Query()
		if f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintf(f, "page=%s\n", q.Get("page"))
			f.Close()
		}
		start, err := strconv.ParseInt(q.Get("start_time"), 10, 64)
		// Every group_by value must be one the API documents, and the
		// answer is per key only when api_key_id is among them (okv sends
		// it alone, or with project_id and batch).
		groups := q["group_by"]
		known := true
		for _, g := range groups {
			switch g {
			case "project_id", "user_id", "api_key_id", "model", "batch", "service_tier":
			default:
				known = false
			}
		}
		if err != nil || q.Get("bucket_width") != "1d" || !known || !slices.Contains(groups, "api_key_id") {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"message":"bad query","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		i := 0
		if p := q.Get("page"); p != "" {
			if i, err = strconv.Atoi(strings.TrimPrefix(p, "AAAAAGdGxd")); err != nil {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"error":{"message":"invalid page","type":"invalid_request_error","param":null,"code":null}}`)
				return
			}
		}
		s := start + int64(i)*86400
		now := time.Now().Unix()
		var results []string
		if s <= now && now < s+86400 {
			data, _ := os.ReadFile(usagePath)
			for _, line := range strings.Split(string(data), "\n") {
				var id string
				var n int64
				if _, err := fmt.Sscanf(line, "%s %d", &id, &n); err == nil {
					results = append(results, fmt.Sprintf(`{"object":"organization.usage.completions.result","input_tokens":%d,"output_tokens":%d,"input_cached_tokens":0,"input_audio_tokens":0,"output_audio_tokens":0,"num_model_requests":%d,"project_id":null,"user_id":null,"api_key_id":%q,"model":null,"batch":false}`, 9*n, 3*n, n, id))
				}
			}
		}
		more := `"has_more":false,"next_page":null`
		if s+86400 <= now {
			more = fmt.Sprintf(`"has_more":true,"next_page":"AAAAAGdGxd%d"`, i+1)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"page","data":[{"object":"bucket","start_time":%d,"end_time":%d,"results":[%s]}],%s}`, s, s+86400, strings.Join(results, ","), more)
	})
	mux.HandleFunc("GET /v1/organization/costs", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"page","data":[],"has_more":false,"next_page":null}`)
	})
	srv := httptest.NewServer(mux)
	ts.Defer(srv.Close)
	ts.Setenv("FAKE_ADMIN", srv.URL)
}
