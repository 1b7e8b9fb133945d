package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/prices"
)

// DefaultUpstream is where requests go when Config.Upstream is nil and
// the provider is OpenAI.
const DefaultUpstream = "https://api.openai.com"

// Limits is a profile's proxy policy (see package limits).
type Limits = limits.Limits

// Config configures a Proxy.
type Config struct {
	Profile string // recorded in usage records

	// Provider is the API proxied; nil means OpenAI.
	Provider *Provider
	// Upstream is the only place requests are forwarded to; nil means the
	// provider's DefaultUpstream. Its path, if any, prefixes the client's
	// path.
	Upstream *url.URL
	// APIKey is the real key, sent upstream as the provider sends it.
	// Empty sends no key.
	APIKey string
	// Credentials are the values of the provider's Credentials, by
	// secret name (OPENAI_ORG_ID → "org-…"); a missing one is not sent,
	// and the client's own header of that name is removed.
	Credentials map[string]string

	// Token is the only credential accepted from clients (see NewToken).
	Token string

	Limits Limits
	// TokensUsedToday seeds the daily budget (tokens already spent this
	// UTC day, as read from the ledger by the caller).
	TokensUsedToday int64

	// Allow lists client networks allowed besides loopback.
	Allow []netip.Prefix

	Ledger Ledger // receives one Record per request; may be nil
	// Prices prices the records' tokens (Record.CostUSD); nil records no
	// cost.
	Prices prices.Func

	Now       func() time.Time  // clock; nil means time.Now
	Transport http.RoundTripper // nil means NewTransport()
	ErrorLog  *log.Logger       // nil discards the errors the proxy cannot return
	// Notice receives lines for the user: a client that speaks TLS to
	// the plain-HTTP listener (an https:// or wss:// base URL). nil
	// sends them to ErrorLog.
	Notice *log.Logger
}

// Proxy is the loopback proxy for one provider and one profile. It is an
// http.Handler; Serve runs it on a listener with its own http.Server.
type Proxy struct {
	cfg       Config
	pv        *Provider
	upstream  *url.URL
	upBase    string // upstream path without trailing "/"
	upHasBase bool   // upstream path ends in the provider's BasePath
	tokenHash [32]byte
	keyHeader string   // canonical form of pv.KeyHeader
	creds     []string // canonical credential header names
	credVals  map[string][]string
	limits    Limits
	now       func() time.Time
	lim       *limiter
	budget    BudgetLedger // the ledger, when it shares the daily budget
	rp        *httputil.ReverseProxy
	srv       *http.Server
	listen    atomic.Pointer[netip.AddrPort]
	key       []byte // the real key, scrubbed from answers
	errLog    *log.Logger

	pending  sync.WaitGroup // records not yet handed to the ledger
	recMu    sync.Mutex
	writeMu  sync.RWMutex  // held while a batch of records is written, so batches keep their order; read-held by holdBudget
	recQ     []Record      // records for appendLoop
	recWake  chan struct{} // a first record was queued; nil without a ledger
	recFlush chan struct{} // Wait wants the queue written now
	// appendFailed: the ledger refused the last batch of records.
	appendFailed atomic.Bool

	warnMu  sync.Mutex
	warnDay string  // the UTC day of warnUSD
	warnUSD float64 // the day's dollars as this proxy last knew them (warn_usd)
}

// New checks cfg and returns a Proxy. It does not listen.
func New(cfg Config) (*Proxy, error) {
	pv := cfg.Provider
	if pv == nil {
		pv = OpenAI
	}
	if cfg.Token == "" {
		return nil, errors.New("proxy: no token")
	}
	if badHeaderValue(cfg.Token) || strings.ContainsAny(cfg.Token, " \t") {
		return nil, errors.New("proxy: the token holds characters not allowed in a header")
	}
	if cfg.APIKey != "" && cfg.APIKey == cfg.Token {
		return nil, errors.New("proxy: the token must differ from the API key")
	}
	if badHeaderValue(cfg.APIKey) {
		return nil, errors.New("proxy: the API key holds characters not allowed in a header")
	}
	up := cfg.Upstream
	if up == nil {
		var err error
		if up, err = url.Parse(pv.DefaultUpstream); err != nil {
			return nil, fmt.Errorf("proxy: %s's default upstream: %w", pv.Name, err)
		}
	} else {
		c := *up
		up = &c
	}
	if up.Scheme != "https" && up.Scheme != "http" {
		return nil, fmt.Errorf("proxy: upstream %q: scheme must be https or http", up.Redacted())
	}
	if up.Host == "" || up.User != nil || up.RawQuery != "" || up.Fragment != "" || up.Opaque != "" {
		return nil, fmt.Errorf("proxy: upstream %q: want scheme://host[:port][/path] only", up.Redacted())
	}
	if cfg.TokensUsedToday < 0 {
		return nil, errors.New("proxy: tokens used today cannot be negative")
	}
	if err := cfg.Limits.Check(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{
		cfg:       cfg,
		pv:        pv,
		upstream:  up,
		upBase:    strings.TrimSuffix(up.Path, "/"),
		keyHeader: http.CanonicalHeaderKey(pv.KeyHeader),
		credVals:  map[string][]string{},
		now:       cfg.Now,
		errLog:    cfg.ErrorLog,
		key:       []byte(cfg.APIKey),
	}
	p.upHasBase = strings.HasSuffix(p.upBase, pv.BasePath)
	for _, c := range pv.Credentials {
		h := http.CanonicalHeaderKey(c.Header)
		p.creds = append(p.creds, h)
		if v := cfg.Credentials[c.Secret]; v != "" {
			if badHeaderValue(v) {
				return nil, fmt.Errorf("proxy: %s holds characters not allowed in a header", c.Secret)
			}
			p.credVals[h] = []string{v}
		}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.errLog == nil {
		p.errLog = log.New(io.Discard, "", 0)
	}
	p.tokenHash = sha256.Sum256([]byte(cfg.Token))
	// Empty entries restrict nothing.
	p.limits = cfg.Limits
	p.limits.Models = nonEmpty(cfg.Limits.Models)
	p.limits.Endpoints = nonEmpty(cfg.Limits.Endpoints)
	p.lim = newLimiter(p.limits, cfg.TokensUsedToday, p.now())
	p.budget, _ = cfg.Ledger.(BudgetLedger)
	if cfg.Ledger != nil {
		p.recWake = make(chan struct{}, 1)
		p.recFlush = make(chan struct{}, 1)
		go p.appendLoop()
	}
	tr := cfg.Transport
	if tr == nil {
		tr = NewTransport()
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: tr,
		// 0, not -1: ReverseProxy already flushes every write of an event
		// stream (text/event-stream) and of an answer of unknown length;
		// -1 also flushed each write of a plain JSON answer, which cost a
		// system call per write (make bench-proxy: about 13% of the CPU at
		// saturation went to those flushes).
		FlushInterval:  0,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamFailed,
		ErrorLog:       p.errLog,
		BufferPool:     &copyBuffers,
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          p.errLog,
	}
	return p, nil
}

// NewTransport is the upstream transport New uses by default: a clone of
// http.DefaultTransport (HTTP/2 over TLS, HTTP(S)_PROXY and NO_PROXY from
// the environment, its dial and TLS timeouts), keeping more idle
// connections per host and taking at most 1 MiB of response headers
// (1xx responses included, see rewrite).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.MaxResponseHeaderBytes = 1 << 20
	return t
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func badHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// Serve serves the proxy on l until Shutdown or Close; it returns
// http.ErrServerClosed then.
func (p *Proxy) Serve(l net.Listener) error {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		p.listen.Store(&ap)
	}
	notice := p.cfg.Notice
	if notice == nil {
		notice = p.errLog
	}
	return p.srv.Serve(plainListener{l, notice})
}

// Shutdown stops accepting, waits for requests in flight (until ctx ends)
// and for their usage records to reach the ledger.
func (p *Proxy) Shutdown(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	if err == nil {
		p.Wait()
	}
	return err
}

// Close stops the proxy at once, dropping requests in flight.
func (p *Proxy) Close() error { return p.srv.Close() }

// reqState follows one request through the proxy.
type reqState struct {
	rec      Record
	parser   usageParser
	filter   EventFilter // takes out of a stream what the proxy asked for (Provider.StreamUsage)
	ws       wsUsage     // a WebSocket's usage, message by message
	est      int64       // tokens the request may use, held against the budgets
	held     int64       // of est, held by the limiter (no BudgetLedger)
	estUSD   float64     // dollars the request may cost at est (dollar budgets)
	heldUSD  float64     // of estUSD, held by the limiter
	tooLarge atomic.Bool
	n1xx     int       // 1xx answers the upstream sent before the final one
	body     []byte    // the request body as forwarded, when the proxy read it
	streamed io.Closer // the client's body, when it goes upstream as it arrives (not read first)
	split    splitBody
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// ServeHTTP checks one request, forwards it when it passes every check,
// and records it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	st := &reqState{rec: Record{
		Time:     start.UTC(),
		Profile:  p.cfg.Profile,
		Provider: p.pv.Name,
		Method:   r.Method,
		Path:     p.recordPath(r.URL.Path),
	}}
	defer func() {
		v := recover()
		p.finish(st, start)
		if v != nil {
			panic(v) // http.ErrAbortHandler: the upstream failed mid-answer
		}
	}()
	// The state rides in the request's context from here on: the
	// provider's functions find the body's members there (bodyMembers),
	// ReverseProxy's hooks the rest.
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	if e := p.admit(r, st, start); e != nil {
		st.rec.Status, st.rec.Refused = e.Status, e.Code
		p.refuse(w, e)
		return
	}
	if st.streamed == nil {
		p.rp.ServeHTTP(oneXXWriter{w}, r)
		return
	}
	// The body goes upstream while the answer may already come back (an
	// upload whose upstream answers as it ends, or before). By default
	// net/http's HTTP/1 server takes the rest of the client's body for
	// itself when the answer starts, which cuts the body short and makes
	// the Transport drop the upstream connection mid-answer
	// (golang/go#40747): full duplex leaves the body to the Transport.
	// HTTP/2 is always full duplex (the call's error then says so).
	_ = http.NewResponseController(w).EnableFullDuplex()
	p.rp.ServeHTTP(oneXXWriter{w}, r)
	// In full duplex the server reads what is left of the body only after
	// the handler, too late: the read that meets its end then starts the
	// connection's background read after the server stopped it, and the
	// next request on the connection panics (golang/go#68560). Closing the
	// body here reads the rest (up to 256 KiB, else the connection closes
	// after this answer, as without full duplex) while the handler runs.
	st.streamed.Close()
}

// localAddr is the address the request arrived on.
func (p *Proxy) localAddr(r *http.Request) netip.AddrPort {
	switch a := r.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case net.Addr:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap
		}
	}
	if a := p.listen.Load(); a != nil {
		return *a
	}
	return netip.AddrPort{}
}

// admit runs every check of a request that arrived at now, in the order
// of the package documentation; on success the request (its body replaced
// when it was read) is ready to forward.
func (p *Proxy) admit(r *http.Request, st *reqState, now time.Time) *Refusal {
	if r.Method == http.MethodConnect || r.Method == http.MethodTrace {
		return errInvalidRequest(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("method %s is not supported", r.Method))
	}
	if r.URL.Scheme != "" || r.URL.Host != "" || r.URL.Opaque != "" ||
		(r.RequestURI != "" && r.RequestURI[0] != '/') || !strings.HasPrefix(r.URL.Path, "/") {
		return errInvalidRequest(http.StatusBadRequest, "invalid_request_uri",
			"the request target must be a path such as "+p.pv.BasePath+"/chat/completions; this proxy forwards only to its configured upstream")
	}
	if !p.clientAllowed(r.RemoteAddr) {
		return &Refusal{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "client_not_allowed",
			Msg: "requests from this address are not allowed (loopback only unless allowed with --allow)"}
	}
	if !hostAllowed(r.Host, p.localAddr(r)) {
		return errInvalidRequest(http.StatusUnauthorized, "invalid_host",
			"the Host header must name this proxy's loopback address and port")
	}
	if !p.clientTokenOK(r.Header) {
		return errInvalidRequest(http.StatusUnauthorized, "invalid_api_key",
			"incorrect API key provided: use the okv token this proxy was started with as "+p.pv.KeyVar)
	}
	pth, base := r.URL.Path, p.pv.BasePath
	if pth != base && !strings.HasPrefix(pth, base+"/") {
		return &Refusal{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
			Msg: fmt.Sprintf("invalid URL (%s %s): paths start with %s/", r.Method, st.rec.Path, base)}
	}
	if !cleanPath(pth) {
		return errInvalidRequest(http.StatusBadRequest, "invalid_path", "the path must not contain empty, '.' or '..' segments")
	}
	if p.leaksToken(r) {
		return errInvalidRequest(http.StatusBadRequest, "token_in_url", "the okv token must not appear in the URL")
	}
	if !p.limits.EndpointAllowed(base, pth) {
		return &Refusal{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "endpoint_not_allowed",
			Msg: fmt.Sprintf("endpoint %s is not allowed for profile %q", st.rec.Path, p.cfg.Profile)}
	}
	if p.limits.Any() {
		for _, ep := range p.pv.Minting {
			if (pth == ep || strings.HasPrefix(pth, ep+"/")) && !p.limits.EndpointNamed(base, ep) {
				return &Refusal{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "endpoint_not_allowed",
					Msg: fmt.Sprintf("endpoint %s mints a credential that works without this proxy, outside profile %q's limits; name it in the policy's endpoints to allow it", ep, p.cfg.Profile)}
			}
		}
	}
	if len(p.limits.Models) > 0 {
		for _, ep := range p.pv.Unchecked {
			if (pth == ep || strings.HasPrefix(pth, ep+"/")) && !p.limits.EndpointNamed(base, ep) {
				return &Refusal{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "endpoint_not_allowed",
					Msg: fmt.Sprintf("endpoint %s runs models okv cannot check against profile %q's models; name it in the policy's endpoints to allow it", ep, p.cfg.Profile)}
			}
		}
	}
	if e := p.checkBody(r, st); e != nil {
		return e
	}
	if e := p.lim.admit(now); e != nil {
		return e
	}
	return p.holdBudget(st, now)
}

func (p *Proxy) clientAllowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.IsLoopback() {
		return true
	}
	for _, pfx := range p.cfg.Allow {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// hostAllowed is the DNS-rebinding defence: the Host header must be
// "localhost", a loopback IP literal or the local IP the connection came in
// on, with the port the proxy listens on.
func hostAllowed(hostHeader string, local netip.AddrPort) bool {
	if !local.IsValid() || hostHeader == "" {
		return false
	}
	host, port, err := net.SplitHostPort(hostHeader)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostHeader, "["), "]"), "80"
	}
	if port != strconv.Itoa(int(local.Port())) {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip == local.Addr().Unmap().WithZone("")
}

// clientTokenOK: the token is in the provider's key header, or (with no
// key header) in its AltKeyHeader.
func (p *Proxy) clientTokenOK(h http.Header) bool {
	if vals := h[p.keyHeader]; len(vals) > 0 || p.pv.AltKeyHeader == "" {
		return p.tokenOK(vals, p.pv.KeyPrefix)
	}
	return p.tokenOK(h[http.CanonicalHeaderKey(p.pv.AltKeyHeader)], p.pv.AltKeyPrefix)
}

// tokenOK compares the client's credential header (exactly one) with the
// token, in constant time.
func (p *Proxy) tokenOK(vals []string, prefix string) bool {
	if len(vals) != 1 {
		return false
	}
	v := vals[0]
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.Trim(v[len(prefix):], " \t")))
	return subtle.ConstantTimeCompare(got[:], p.tokenHash[:]) == 1
}

func (p *Proxy) leaksToken(r *http.Request) bool {
	t := p.cfg.Token
	if strings.Contains(r.URL.Path, t) || strings.Contains(r.URL.RawPath, t) || strings.Contains(r.URL.RawQuery, t) {
		return true
	}
	q, err := url.QueryUnescape(r.URL.RawQuery)
	return err == nil && strings.Contains(q, t)
}

// cleanPath reports whether p has no empty, "." or ".." segments and no
// backslash or control character.
func cleanPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}

func (p *Proxy) tooLarge() *Refusal {
	return errInvalidRequest(http.StatusRequestEntityTooLarge, "request_too_large",
		fmt.Sprintf("the request body exceeds this profile's limit of %d bytes", p.limits.Body()))
}

// checkBody enforces MaxBody and Models. JSON bodies (and every body when
// models are restricted) are read, bounded by MaxBody, and replayed; other
// bodies stream through under the same bound.
func (p *Proxy) checkBody(r *http.Request, st *reqState) *Refusal {
	restricted := len(p.limits.Models) > 0
	maxBody := p.limits.Body()
	if r.ContentLength > maxBody {
		return p.tooLarge()
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		kind, _ := classifyBody(r.Header.Get("Content-Type"))
		if kind == bodyJSON || restricted {
			b, err := readBounded(r.Body, maxBody, r.ContentLength)
			if errors.Is(err, errBodyTooLarge) {
				return p.tooLarge()
			}
			if err != nil {
				return errInvalidRequest(http.StatusBadRequest, "invalid_body", "the request body could not be read")
			}
			body, st.body = b, b
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			r.ContentLength = int64(len(b))
			r.TransferEncoding = nil
		} else {
			if r.Header.Get("Upgrade") == "" {
				st.streamed = r.Body
			}
			r.Body = &limitedBody{rc: r.Body, left: maxBody, tooLarge: &st.tooLarge}
		}
	}
	models, err := p.pv.Models(r, body)
	if errors.Is(err, ErrQuery) && restricted {
		return errInvalidRequest(http.StatusBadRequest, "invalid_query", "cannot check the request's model: "+err.Error())
	}
	if err != nil && restricted {
		return errInvalidRequest(http.StatusBadRequest, "invalid_body", "cannot check the request's model: "+err.Error())
	}
	if len(models) > 0 {
		st.rec.Model = clip(models[0], 128)
	}
	if restricted && len(models) == 0 && (p.pv.ModelFree == nil || !p.pv.ModelFree(r)) {
		return &Refusal{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "model_required",
			Msg: fmt.Sprintf("%s %s names no model okv can check against profile %q's models: name the model in the request", r.Method, st.rec.Path, p.cfg.Profile)}
	}
	for _, m := range models {
		if !p.limits.ModelAllowed(m) {
			return &Refusal{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "model_not_allowed",
				Msg: fmt.Sprintf("model %q is not allowed for profile %q", clip(m, 128), p.cfg.Profile)}
		}
	}
	if budgeted(p.limits) || p.limits.MaxOutputTokens > 0 {
		in, out, e := p.estimate(r, p.pv, body, r.ContentLength)
		if e != nil {
			return e
		}
		st.est = in + out
		if e := p.estimateUSD(st, in, out, p.now()); e != nil {
			return e
		}
	}
	if body != nil && p.pv.StreamUsage != nil {
		if nb, f := p.pv.StreamUsage(r, body); nb != nil {
			st.filter, st.body = f, nb
			r.Body = io.NopCloser(bytes.NewReader(nb))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nb)), nil }
			r.ContentLength = int64(len(nb))
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// recordPath is the path as recorded: clipped, and never holding the token.
func (p *Proxy) recordPath(s string) string {
	if strings.Contains(s, p.cfg.Token) {
		s = strings.ReplaceAll(s, p.cfg.Token, "<okv-token>")
	}
	return clip(s, 256)
}

// upstreamPath maps a client path ("/v1/…") onto the upstream's path.
func (p *Proxy) upstreamPath(clientPath string) string {
	if p.upHasBase {
		clientPath = strings.TrimPrefix(clientPath, p.pv.BasePath)
	}
	if s := p.upBase + clientPath; s != "" {
		return s
	}
	return "/"
}

// price sets r's cost from Config.Prices: requests that used tokens, of a
// model with a known price.
func (p *Proxy) price(r *Record) {
	if p.cfg.Prices == nil || r.Model == "" || r.TotalTokens == 0 {
		return
	}
	pr, ok := p.cfg.Prices(r.Provider, r.Model, r.Time)
	if !ok {
		return
	}
	c := pr.Cost(r.PromptTokens, r.CacheReadTokens, r.CacheCreationTokens, r.CompletionTokens)
	r.CostUSD, r.PriceDate = &c, pr.Checked
}

func (p *Proxy) finish(st *reqState, start time.Time) {
	end := p.now()
	if st.parser != nil {
		if t, ok := st.parser.result(); ok {
			st.rec.PromptTokens, st.rec.CompletionTokens, st.rec.TotalTokens = t.Prompt, t.Completion, t.Total
			st.rec.CacheReadTokens, st.rec.CacheCreationTokens = t.CacheRead, t.CacheCreation
		}
	}
	st.ws.mu.Lock()
	spentLive := st.ws.spent
	if st.ws.found {
		t := st.ws.sum
		st.rec.PromptTokens, st.rec.CompletionTokens, st.rec.TotalTokens = t.Prompt, t.Completion, t.Total
	}
	st.ws.mu.Unlock()
	st.rec.LatencyMS = max(math.Round(float64(end.Sub(start))/1e3)/1e3, 0)
	p.price(&st.rec)
	var cost float64
	if st.rec.CostUSD != nil {
		cost = *st.rec.CostUSD
	}
	p.lim.spend(end, st.rec.TotalTokens-spentLive, st.held, cost, st.heldUSD)
	p.warnAdd(cost, end)
	if p.recWake == nil {
		return
	}
	// Off the request's path: one appender writes what queued up, in the
	// order requests finished, in one locked write at most every
	// ledgerDelay; Shutdown and Wait wait for it.
	p.pending.Add(1)
	p.recMu.Lock()
	p.recQ = append(p.recQ, st.rec)
	first := len(p.recQ) == 1
	p.recMu.Unlock()
	if first {
		select {
		case p.recWake <- struct{}{}:
		default:
		}
	}
}

// ledgerDelay is how long a record may wait for others to be written with
// it: what a crash of okv (not of the child) can lose.
const ledgerDelay = 50 * time.Millisecond

// appendLoop hands queued records to the ledger, in batches when the
// ledger can take them (FileLedger: one locked write per batch).
func (p *Proxy) appendLoop() {
	// AppendAll must not keep the slice: the next batch is queued in it.
	all, batched := p.cfg.Ledger.(interface{ AppendAll([]Record) error })
	t := time.NewTimer(ledgerDelay)
	t.Stop()
	var spare []Record // the last batch's array, for the next queue
	for range p.recWake {
		t.Reset(ledgerDelay)
		select {
		case <-t.C:
		case <-p.recFlush:
			t.Stop()
		}
		p.writeMu.Lock()
		p.recMu.Lock()
		batch := p.recQ
		p.recQ, spare = spare, nil
		p.recMu.Unlock()
		var err error
		if batched {
			err = all.AppendAll(batch)
		} else {
			for _, r := range batch {
				if e := p.cfg.Ledger.Append(r); e != nil && err == nil {
					err = e
				}
			}
		}
		// Until a write succeeds, budgeted requests are refused
		// (holdBudget): their usage would be lost to every okv's
		// budgets (a full disk), which Hold, reading, does not see.
		p.appendFailed.Store(err != nil)
		p.writeMu.Unlock()
		if err != nil {
			p.errLog.Printf("okv proxy: %v", err)
		}
		p.pending.Add(-len(batch))
		// Reused, unless a burst made it large (4096 records are some
		// 1 MB): a queue grown anew for every batch was most of what
		// finish allocated.
		if cap(batch) <= 4096 {
			clear(batch)
			spare = batch[:0]
		}
	}
}

// Wait blocks until every usage record of a finished request has been
// handed to the ledger. Call it when no request is in flight (after
// Shutdown, which already does).
func (p *Proxy) Wait() {
	if p.recFlush != nil {
		select {
		case p.recFlush <- struct{}{}:
		default:
		}
	}
	p.pending.Wait()
}
