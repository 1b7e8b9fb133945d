// Package proxy implements okv's proxy mode: a loopback HTTP proxy that
// lets a child process call an LLM API without ever holding the real key.
//
// It is a net/http program: an http.Server for clients, and an
// httputil.ReverseProxy (Rewrite, event streams flushed per write, ModifyResponse,
// ErrorHandler) over a clone of http.DefaultTransport (HTTP/2 over TLS,
// HTTP(S)_PROXY from the environment) for the upstream. okv parses no
// HTTP itself and keeps no connections of its own.
//
// What is specific to a provider lives in one [Provider] value: the
// default upstream, how the key is sent, which other secrets go upstream
// as headers, the child's variables, where a request names its model, how
// an answer reports usage, and the error shape. [OpenAI] is the one okv
// ships (openai.go). Another provider is one more file declaring its
// Provider, and a test; cmd/proxy.go picks the provider.
//
// The caller (okv run --proxy, okv proxy) creates a per-run token with
// [NewToken], builds a [Config] holding the profile's real key, upstream and
// [Limits], calls [New], listens on 127.0.0.1:0 and calls [Proxy.Serve]. The
// child gets OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 and
// OPENAI_API_KEY=<token> (Provider.BaseURLVar and KeyVar). [Proxy.Shutdown]
// stops it, waiting for requests in flight (and their usage records).
//
//	tok, _ := proxy.NewToken()
//	p, err := proxy.New(proxy.Config{Profile: "dev", APIKey: key, Token: tok,
//		Limits: proxy.Limits{RPM: 60}, Ledger: &proxy.FileLedger{Dir: vaultDir}})
//	l, _ := net.Listen("tcp", "127.0.0.1:0")
//	go p.Serve(l)
//	defer p.Shutdown(ctx)
//
// # What a request must pass
//
// In this order; the first failure is answered in the provider's error
// shape (OpenAI's {"error":{"message":…,"type":…,"param":null,"code":…}})
// and nothing reaches the upstream:
//
//   - method and request target: CONNECT and TRACE are refused (405), and so
//     is any request target that is not a plain path (absolute-form
//     "http://host/…", authority-form, "*"): 400. The proxy only ever
//     forwards to Config.Upstream;
//   - client address: loopback, or inside one of Config.Allow (403);
//   - Host header: "localhost", a loopback IP literal, or the IP literal the
//     connection arrived on, each with the port the proxy listens on
//     (DNS-rebinding defence). Anything else: 401;
//   - the key header ("Authorization: Bearer <Config.Token>"), exactly
//     one, compared in constant time; else 401 invalid_api_key;
//   - path: the provider's base ("/v1" or "/v1/…"), already clean (no "..",
//     "//"); else 404/400. The okv token may not appear in the path or
//     query (400);
//   - Limits.Endpoints (path prefixes, matched by whole segments): 403;
//   - Provider.Minting (credential-minting endpoints) under any limit,
//     and Provider.Unchecked under Limits.Models, unless Endpoints names
//     them: 403;
//   - Limits.MaxBody: 413, from Content-Length or while reading;
//   - Limits.Models: every model the request names (Provider.Models; for
//     OpenAI the JSON body's top-level "model", a multipart or url-encoded
//     form field "model", the query's "model") must be allowed; an entry
//     ending in "*" is a prefix. A body whose model cannot be determined
//     (invalid JSON, "model" given twice or null, a key "Model", not JSON
//     or a form) is refused with 400, and so is a request that names no
//     model unless Provider.ModelFree lists it;
//   - tokens per minute (Limits.TPM, counted from the usage of responses
//     finished in the last 60 s): 429 rate_limit_exceeded (type "tokens");
//   - requests per minute (Limits.RPM, a sliding 60 s window of admitted
//     requests): 429 rate_limit_exceeded (type "requests");
//   - daily token budget (Limits.DailyTokens, UTC day): the request holds
//     an estimate (body bytes + Provider.MaxOutput, or
//     DefaultOutputReserve) while the spend is under the budget and it
//     fits beside what is held, or runs alone; a BudgetLedger (FileLedger)
//     shares spend and holds between processes, else Config.TokensUsedToday
//     seeds it. A spent budget is 429 insufficient_quota with
//     x-should-retry: false and no retry-after; a budget held by requests
//     in flight is 429 rate_limit_exceeded with retry-after: 1;
//   - dollar budgets (Limits.DailyUSD, Limits.MonthlyUSD, UTC day and
//     month, of the profile's Record.CostUSD): the same estimate priced by
//     Config.Prices is held only when it fits with the spend and what is
//     held; a model with no price is 403 model_price_unknown; a request
//     that cannot fit before the reset is 429 insufficient_quota with
//     x-should-retry: false and retry-after at the reset. A request asking
//     for more than Limits.MaxOutputTokens is 400
//     max_output_tokens_exceeded. Limits.WarnUSD warns once a day on
//     Config.Notice.
//
// Rate refusals carry retry-after (whole seconds) and retry-after-ms. TPM
// is checked against tokens already spent, so requests in flight together
// may overshoot it by their own usage.
//
// net/http's server reads every request (it refuses two differing
// Content-Lengths, takes Transfer-Encoding over Content-Length, unfolds
// obs-fold), and the Transport frames what goes upstream anew, so there is
// no byte path on which the two could disagree: TestSmuggling.
//
// # Forwarding
//
// The request goes to Config.Upstream with the client's path appended (an
// upstream path ending in the provider's base absorbs the client's). The
// key header and the provider's credential headers are replaced by the
// profile's, or removed when not configured; Cookie, Accept-Encoding,
// forwarding headers and any header whose value contains the okv token are
// dropped; ReverseProxy drops the hop-by-hop headers. JSON request bodies
// (and every body when Limits.Models is set) are read up to MaxBody to find
// the model, then replayed; other bodies stream through under the same
// limit. Answers stream back unbuffered (server-sent events event by
// event), WebSocket upgrades are tunnelled, and a client that goes away
// cancels the upstream request. The upstream may send at most 1 MiB of
// headers and five 1xx answers, which the client never sees. A TLS
// handshake on the plain listener is refused at once.
//
// The real key is replaced, with a marker of the same length, in every
// answer header and body (and the upstream's side of a tunnel): an
// upstream that echoes a request must not hand the key to the child.
//
// # Usage records
//
// Every request, refused or not, produces one [Record] for Config.Ledger:
// time, profile, method, path, model, status, token counts, latency, whether
// it streamed, and for refusals the error code. Token counts come from
// Provider.Usage, reading the JSON answer or each event of a stream as the
// bytes pass, without holding them back (OpenAI: "usage", or for the
// Responses API's events "response"."usage"). No body, header value, key or
// token is ever recorded. A client that disconnects before the upstream
// answers is recorded with status 499; an unreachable upstream gives 502.
//
// Records are handed to the ledger by one goroutine, in the order requests
// finished, in batches at most 50 ms apart (Wait and Shutdown write what is
// queued at once).
//
// [FileLedger] appends records as JSON lines (encoding/json) to one 0600
// file per UTC month in the vault folder, usage-2026-12.jsonl, under an
// exclusive gofrs/flock lock on usage.lock, and keeps usage-days.json, the
// day's tokens per profile, up to date under the same lock. [TokensUsed]
// gives the daily budget's seed from it, so start-up does not grow with the
// ledger; [ReadLedger] reads the months `okv usage` asks for (and the
// usage.jsonl of earlier okv versions); [Summarize] groups them.
//
// The package prints nothing; errors it cannot return (a failing ledger,
// server errors) go to Config.ErrorLog when set.
package proxy
