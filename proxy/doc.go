// Package proxy implements okv's proxy mode: a loopback HTTP proxy that
// lets a child process talk to the OpenAI API without ever holding the real
// API key.
//
// The caller (okv run --proxy, okv proxy) creates a per-run token with
// [NewToken], builds a [Config] holding the profile's real key, upstream and
// [Limits], calls [New], listens on 127.0.0.1:0 and calls [Proxy.Serve]. The
// child gets OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 and
// OPENAI_API_KEY=<token>. [Proxy.Shutdown] stops it, waiting for requests in
// flight (and their usage records).
//
//	tok, _ := proxy.NewToken()
//	p, err := proxy.New(proxy.Config{Profile: "dev", APIKey: key, Token: tok,
//		Limits: proxy.Limits{RPM: 60}, Ledger: &proxy.FileLedger{Path: usagePath}})
//	l, _ := net.Listen("tcp", "127.0.0.1:0")
//	go p.Serve(l)
//	defer p.Shutdown(ctx)
//
// # What a request must pass
//
// In this order; the first failure is answered in OpenAI's JSON error shape
// {"error":{"message":…,"type":…,"param":null,"code":…}} and nothing reaches
// the upstream:
//
//   - method and request target: CONNECT and TRACE are refused (405), and so
//     is any request target that is not a plain path (absolute-form
//     "http://host/…", authority-form, "*"): 400. The proxy only ever
//     forwards to Config.Upstream;
//   - client address: loopback, or inside one of Config.Allow (403);
//   - Host header: "localhost", a loopback IP literal, or the IP literal the
//     connection arrived on, each with the port the proxy listens on
//     (DNS-rebinding defence). Anything else: 401;
//   - Authorization: "Bearer <Config.Token>", compared in constant time;
//     else 401 invalid_api_key;
//   - path: "/v1" or "/v1/…", already clean (no "..", "//"); else 404/400.
//     The okv token may not appear in the path or query (400);
//   - Limits.Endpoints (path prefixes, matched by whole segments): 403;
//   - Limits.MaxBody: 413, from Content-Length or while reading;
//   - Limits.Models: every model the request names (JSON body "model",
//     multipart or url-encoded form field "model", query "model") must be
//     allowed; an entry ending in "*" is a prefix. A JSON body that cannot
//     be checked (invalid, or "model" given twice) is refused with 400;
//   - daily token budget (Limits.DailyTokens, UTC day, seeded with
//     Config.TokensUsedToday): 429 insufficient_quota;
//   - tokens per minute (Limits.TPM, counted from the usage of responses
//     finished in the last 60 s): 429 rate_limit_exceeded (type "tokens");
//   - requests per minute (Limits.RPM, a sliding 60 s window of admitted
//     requests): 429 rate_limit_exceeded (type "requests").
//
// Every 429 carries retry-after (whole seconds) and retry-after-ms. Token
// limits can only be checked against tokens already spent, so requests in
// flight together may overshoot the TPM and daily limits by their own usage.
//
// # Forwarding
//
// The request goes to Config.Upstream with the client's path appended (an
// upstream path ending in "/v1" absorbs the client's "/v1"). Authorization,
// OpenAI-Organization and OpenAI-Project are replaced by the profile's, or
// removed when not configured; Cookie, Accept-Encoding, forwarding headers
// and any header whose value contains the okv token are dropped; hop-by-hop
// headers (RFC 9110, 7.6.1, and those Connection names) are not forwarded.
// JSON request bodies (and every body when Limits.Models is set) are read up
// to MaxBody to find the model, then replayed; other bodies stream through
// under the same limit. Responses stream back unbuffered (server-sent events
// chunk by chunk), WebSocket upgrades are tunnelled, and a client that goes
// away cancels the upstream request.
//
// Serve does not use http.Server, nor the upstream http.Transport: one
// goroutine per client connection reads a request, forwards it on a pooled
// upstream connection (upstreamTransport, TLS for https) and writes the
// answer itself. net/http's server and transport cost a goroutine per
// request and channel hand-offs that made up about a third of the proxy's
// CPU time per request (see bench/proxy). Requests and responses are read
// by the proxy's own parser (request.go), which accepts a strict subset of
// what net/http's does and reads it the same way — FuzzReadRequest and
// FuzzParseResponse compare the two on arbitrary input — with a fraction
// of its allocations, reusing each connection's buffers. A request is sent
// again only when a kept-alive upstream connection failed before any byte
// of an answer and the request may run twice (http.Transport's rule); a
// connection that idled over a second is checked before it is used. An HTTP(S)_PROXY
// that applies to the upstream sends requests through http.Transport
// instead; ServeHTTP serves the proxy from an http.Server.
//
// On Linux the client and upstream TCP connections read and write with raw
// system calls on their non-blocking sockets (rawConn), waiting in the
// runtime's poller when a socket is not ready. Go's own calls let the
// scheduler hand the goroutine's P to another thread whenever a call takes
// over 20 µs, which a loopback write on a loaded machine often does; under
// load those hand-offs and the polling that finds them cost the proxy
// about a tenth of its CPU time per request (see rawconn_linux.go).
//
// # Usage records
//
// Every request, refused or not, produces one [Record] for Config.Ledger:
// time, profile, method, path, model, status, token counts, latency, whether
// it streamed, and for refusals the error code. Token counts come from the
// JSON response's "usage" or, for event streams, from the last event
// carrying "usage" (chat completions with stream_options.include_usage, or
// the Responses API's response.completed); they are read as the bytes pass
// through, without holding them back. No body, header value, key or token
// is ever recorded. A client that disconnects before the upstream answers is
// recorded with status 499; an unreachable upstream gives 502.
//
// Records are handed to the ledger by one goroutine, in the order requests
// finished, in batches at most 50 ms apart (Wait and Shutdown write what is
// queued at once).
//
// [FileLedger] appends records as JSON lines to a 0600 file under an
// exclusive advisory lock (flock(2), compatible with gofrs/flock) on
// Path+".lock" — usage.jsonl.lock, not the vault's ".lock", so that usage
// appends never wait for vault writes; it is safe across goroutines and
// processes. [ReadLedger] reads such a file back, [Summarize] groups it
// for `okv usage`, and [TokensUsed] gives the daily budget's seed.
//
// The package prints nothing; errors it cannot return (a failing ledger,
// server accept errors) go to Config.ErrorLog when set.
package proxy
