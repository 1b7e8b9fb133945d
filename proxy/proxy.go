package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultUpstream is where requests go when Config.Upstream is nil.
const DefaultUpstream = "https://api.openai.com"

// Limits is a profile's proxy policy. Zero values mean "no limit".
type Limits struct {
	RPM         int      // requests per minute (sliding 60 s window)
	TPM         int      // tokens per minute, counted from responses' usage
	Models      []string // allowed models; an entry ending in "*" is a prefix
	Endpoints   []string // allowed path prefixes, e.g. "/v1/chat/completions" ("/v1" is implied)
	MaxBody     int64    // request body limit in bytes; 0 means DefaultMaxBody
	DailyTokens int64    // token budget per UTC day
}

// Config configures a Proxy.
type Config struct {
	Profile string // recorded in usage records

	// Upstream is the only place requests are forwarded to; nil means
	// DefaultUpstream. Its path, if any, prefixes the client's path.
	Upstream *url.URL
	// APIKey is the real key, sent upstream as "Authorization: Bearer".
	// Empty sends no Authorization header.
	APIKey string
	// Organization and Project, when set, are sent as OpenAI-Organization
	// and OpenAI-Project; when empty, the client's are removed.
	Organization, Project string

	// Token is the only credential accepted from clients (see NewToken).
	Token string

	Limits Limits
	// TokensUsedToday seeds the daily budget (tokens already spent this
	// UTC day, as read from the ledger by the caller).
	TokensUsedToday int64

	// Allow lists client networks allowed besides loopback.
	Allow []netip.Prefix

	Ledger Ledger // receives one Record per request; may be nil

	Now       func() time.Time  // clock; nil means time.Now
	Transport http.RoundTripper // nil means a clone of http.DefaultTransport
	ErrorLog  *log.Logger       // nil discards the errors the proxy cannot return
}

// Proxy is the loopback OpenAI proxy. It is an http.Handler; Serve runs it
// on a listener.
type Proxy struct {
	cfg       Config
	upstream  *url.URL
	upBase    string // upstream path without trailing "/"
	upHasV1   bool   // upstream path ends in "/v1"
	tokenHash [32]byte
	// The upstream request's credential headers' values (shared, read-only).
	authVals, orgVals, projVals []string

	maxBody    int64
	models     []string
	endpoints  []string
	now        func() time.Time
	lim        *limiter
	transport  http.RoundTripper
	srv        *server
	listenAddr atomic.Pointer[netip.AddrPort]
	pending    sync.WaitGroup // records not yet handed to the ledger
	recMu      sync.Mutex
	recQ       []Record      // records for appendLoop
	recWake    chan struct{} // a first record was queued; nil without a ledger
	recFlush   chan struct{} // Wait wants the queue written now
	key        []byte        // the real key, scrubbed from responses
	errLog     *log.Logger
}

// New checks cfg and returns a Proxy. It does not listen.
func New(cfg Config) (*Proxy, error) {
	if cfg.Token == "" {
		return nil, errors.New("proxy: no token")
	}
	if badHeaderValue(cfg.Token) || strings.ContainsAny(cfg.Token, " \t") {
		return nil, errors.New("proxy: the token holds characters not allowed in a header")
	}
	if cfg.APIKey != "" && cfg.APIKey == cfg.Token {
		return nil, errors.New("proxy: the token must differ from the API key")
	}
	for name, v := range map[string]string{"API key": cfg.APIKey, "organization": cfg.Organization, "project": cfg.Project} {
		if badHeaderValue(v) {
			return nil, fmt.Errorf("proxy: the %s holds characters not allowed in a header", name)
		}
	}
	up := cfg.Upstream
	if up == nil {
		up, _ = url.Parse(DefaultUpstream)
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
	l := cfg.Limits
	if l.RPM < 0 || l.TPM < 0 || l.MaxBody < 0 || l.DailyTokens < 0 || cfg.TokensUsedToday < 0 {
		return nil, errors.New("proxy: limits cannot be negative")
	}
	p := &Proxy{
		cfg:      cfg,
		upstream: up,
		upBase:   strings.TrimSuffix(up.Path, "/"),
		maxBody:  l.MaxBody,
		now:      cfg.Now,
		errLog:   cfg.ErrorLog,
	}
	p.upHasV1 = strings.HasSuffix(p.upBase, "/v1")
	if p.maxBody == 0 {
		p.maxBody = DefaultMaxBody
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.errLog == nil {
		p.errLog = log.New(io.Discard, "", 0)
	}
	p.tokenHash = sha256.Sum256([]byte(cfg.Token))
	if cfg.APIKey != "" {
		p.authVals = []string{"Bearer " + cfg.APIKey}
	}
	if cfg.Organization != "" {
		p.orgVals = []string{cfg.Organization}
	}
	if cfg.Project != "" {
		p.projVals = []string{cfg.Project}
	}
	for _, m := range l.Models {
		if m = strings.TrimSpace(m); m != "" {
			p.models = append(p.models, m)
		}
	}
	for _, e := range l.Endpoints {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.HasPrefix(e, "/") {
			e = "/" + e
		}
		if e != "/v1" && !strings.HasPrefix(e, "/v1/") {
			e = "/v1" + e
		}
		p.endpoints = append(p.endpoints, strings.TrimSuffix(path.Clean(e), "/"))
	}
	p.lim = newLimiter(l, cfg.TokensUsedToday, p.now())
	p.key = []byte(cfg.APIKey)
	if cfg.Ledger != nil {
		p.recWake = make(chan struct{}, 1)
		p.recFlush = make(chan struct{}, 1)
		go p.appendLoop()
	}

	p.transport = cfg.Transport
	if p.transport == nil {
		if u, err := http.ProxyFromEnvironment(&http.Request{URL: up}); err == nil && u != nil {
			// Through an HTTP(S)_PROXY: http.Transport knows CONNECT,
			// SOCKS and proxy credentials.
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 128
			p.transport = t
		} else {
			p.transport = newUpstreamTransport(up.Scheme, up.Host)
		}
	}
	p.srv = newServer()
	return p, nil
}

func badHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// reqState follows one request through the reverse proxy.
type reqState struct {
	rec      Record
	parser   usageParser
	tooLarge atomic.Bool
	body     []byte  // the request body, when admit read it whole
	mem      memBody // body, to replay

	// The response's readers (in one allocation with the state).
	json    jsonUsage
	sse     sseUsage
	usage   usageBody
	scrub   scrubBody
	bodyEOF atomic.Bool // a streamed request body was read to its end
}

// ServeHTTP checks and forwards one request and records it. Serve does
// not go through it: it serves connections itself (see server.go); this
// serves the proxy from an http.Server or a test.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ci := connInfo{remoteOK: p.clientAllowed(r.RemoteAddr)}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		ci.local = a.AddrPort()
	} else if a := p.listenAddr.Load(); a != nil {
		ci.local = *a
	}
	p.serve(w, r, ci, nil)
}

// serve checks and forwards one request and records it; cc is the client
// connection when the proxy's own server read the request.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, ci connInfo, cc *clientConn) {
	start := p.now()
	rec := Record{
		Time:    start.UTC(),
		Profile: p.cfg.Profile,
		Method:  r.Method,
		Path:    p.recordPath(r.URL.Path),
	}
	var st *reqState
	if p.reuses(cc) {
		// The connection's state serves each of its requests, and the
		// buffer for a JSON answer is kept (up to 64 KiB).
		st = &cc.st
		*st = reqState{rec: rec}
		st.json.head = cc.jsonHead[:0]
		defer func() {
			if cap(st.json.head) <= 64<<10 {
				cc.jsonHead = st.json.head[:0]
			}
		}()
	} else {
		st = &reqState{rec: rec}
	}
	defer func() {
		v := recover()
		p.finish(st, start)
		if v != nil {
			panic(v)
		}
	}()
	if e := p.admit(r, st, ci, start); e != nil {
		st.rec.Status, st.rec.Refused = e.status, e.code
		e.write(w)
		return
	}
	p.forward(w, r, st, cc)
}

// reuses reports whether a request served on cc may use objects of cc
// that its next request reuses (see outRequest and serve): with the proxy's
// own transport, which is done with a request when its answer is; not with
// http.Transport, which may still read a request's body after it answered.
func (p *Proxy) reuses(cc *clientConn) bool {
	_, own := p.transport.(*upstreamTransport)
	return own && cc != nil
}

// admit runs every check of a request that arrived at now; on success the
// request (its body replaced when it was read) is ready to forward.
func (p *Proxy) admit(r *http.Request, st *reqState, ci connInfo, now time.Time) *apiError {
	if r.Method == http.MethodConnect || r.Method == http.MethodTrace {
		return errInvalidRequest(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("method %s is not supported", r.Method))
	}
	if r.URL.Scheme != "" || r.URL.Host != "" || r.URL.Opaque != "" ||
		(r.RequestURI != "" && r.RequestURI[0] != '/') || !strings.HasPrefix(r.URL.Path, "/") {
		return errInvalidRequest(http.StatusBadRequest, "invalid_request_uri",
			"the request target must be a path such as /v1/chat/completions; this proxy forwards only to its configured upstream")
	}
	if !ci.remoteOK {
		return &apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "client_not_allowed",
			msg: "requests from this address are not allowed (loopback only unless allowed with --allow)"}
	}
	if ci.okHost == nil || r.Host != *ci.okHost || r.Host == "" {
		if !hostAllowed(r.Host, ci.local) {
			return errInvalidRequest(http.StatusUnauthorized, "invalid_host",
				"the Host header must name this proxy's loopback address and port")
		}
		if ci.okHost != nil {
			*ci.okHost = r.Host
		}
	}
	if !p.tokenOK(first(r.Header, "Authorization")) {
		return errInvalidRequest(http.StatusUnauthorized, "invalid_api_key",
			"incorrect API key provided: use the okv token this proxy was started with as OPENAI_API_KEY")
	}
	pth := r.URL.Path
	if pth != "/v1" && !strings.HasPrefix(pth, "/v1/") {
		return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "unknown_url",
			msg: fmt.Sprintf("invalid URL (%s %s): paths start with /v1/", r.Method, st.rec.Path)}
	}
	if !cleanPath(pth) {
		return errInvalidRequest(http.StatusBadRequest, "invalid_path", "the path must not contain empty, '.' or '..' segments")
	}
	if p.leaksToken(r) {
		return errInvalidRequest(http.StatusBadRequest, "token_in_url", "the okv token must not appear in the URL")
	}
	if !p.endpointAllowed(pth) {
		return &apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "endpoint_not_allowed",
			msg: fmt.Sprintf("endpoint %s is not allowed for profile %q", st.rec.Path, p.cfg.Profile)}
	}
	if e := p.checkBody(r, st); e != nil {
		return e
	}
	return p.lim.admit(now)
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
	var num [5]byte
	if port != string(strconv.AppendUint(num[:0], uint64(local.Port()), 10)) {
		return false
	}
	if asciiEqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip == local.Addr().Unmap().WithZone("")
}

func (p *Proxy) tokenOK(auth string) bool {
	const scheme = "Bearer "
	if len(auth) <= len(scheme) || !asciiEqualFold(auth[:len(scheme)], scheme) {
		return false
	}
	var buf [128]byte // the token is 47 bytes: no allocation
	got := sha256.Sum256(append(buf[:0], trimOWS(auth[len(scheme):])...))
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

func (p *Proxy) endpointAllowed(pth string) bool {
	if len(p.endpoints) == 0 {
		return true
	}
	for _, e := range p.endpoints {
		if pth == e || strings.HasPrefix(pth, e+"/") {
			return true
		}
	}
	return false
}

func (p *Proxy) modelAllowed(m string) bool {
	if len(p.models) == 0 {
		return true
	}
	for _, a := range p.models {
		if prefix, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(m, prefix) {
				return true
			}
		} else if a == m {
			return true
		}
	}
	return false
}

func (p *Proxy) tooLarge() *apiError {
	return errInvalidRequest(http.StatusRequestEntityTooLarge, "request_too_large",
		fmt.Sprintf("the request body exceeds this profile's limit of %d bytes", p.maxBody))
}

// checkBody enforces MaxBody and Models. JSON bodies (and every body when
// models are restricted: forms, and anything that looks like JSON whatever
// its Content-Type) are read, bounded by MaxBody, and replayed; other
// bodies stream through under the same bound.
func (p *Proxy) checkBody(r *http.Request, st *reqState) *apiError {
	restricted := len(p.models) > 0
	var models []string
	if restricted || strings.Contains(r.URL.RawQuery, "model") { // "mod%65l" too when it matters
		// url.Query drops the pairs it cannot parse, which another parser
		// may read a model from: a restriction refuses them instead.
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil && restricted {
			return errInvalidRequest(http.StatusBadRequest, "invalid_query",
				"cannot check the request's model: the query string cannot be parsed")
		}
		models = q["model"]
	}
	if r.ContentLength > p.maxBody {
		return p.tooLarge()
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if hasBody {
		kind, params := classifyBody(first(r.Header, "Content-Type"))
		if kind == bodyJSON || restricted {
			// Read it (bounded) to find the model.
			body, err := readBounded(r.Body, p.maxBody, r.ContentLength)
			if errors.Is(err, errBodyTooLarge) {
				return p.tooLarge()
			}
			if err != nil {
				return errInvalidRequest(http.StatusBadRequest, "invalid_body", "the request body could not be read")
			}
			r.Body.Close()
			st.mem = memBody{b: body}
			r.Body = &st.mem
			r.ContentLength = int64(len(body))
			st.body = body
			r.TransferEncoding = nil
			var found []string
			switch {
			case kind == bodyJSON || (kind == bodyOpaque && restricted && looksJSON(body)):
				found, err = jsonModels(body)
			case kind == bodyMultipart || kind == bodyForm:
				if restricted {
					found, err = formModels(kind, params, body)
				}
			case restricted:
				// A restriction refuses what it cannot check.
				err = errors.New("send JSON or a form, so the model can be checked")
			}
			if err != nil {
				if restricted {
					return errInvalidRequest(http.StatusBadRequest, "invalid_body",
						"cannot check the request's model: "+err.Error())
				}
				found = nil
			}
			if models == nil {
				models = found
			} else {
				models = append(models, found...)
			}
			if len(found) > 0 {
				st.rec.Model = clip(found[0], 128)
			}
		} else {
			r.Body = &limitedBody{rc: r.Body, left: p.maxBody, tooLarge: &st.tooLarge, eof: &st.bodyEOF}
		}
	}
	if st.rec.Model == "" && len(models) > 0 {
		st.rec.Model = clip(models[0], 128)
	}
	for _, m := range models {
		if !p.modelAllowed(m) {
			return &apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "model_not_allowed",
				msg: fmt.Sprintf("model %q is not allowed for profile %q", clip(m, 128), p.cfg.Profile)}
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
	if p.upHasV1 {
		clientPath = strings.TrimPrefix(clientPath, "/v1")
	}
	s := p.upBase + clientPath
	if s == "" {
		return "/"
	}
	return s
}

func (p *Proxy) finish(st *reqState, start time.Time) {
	end := p.now()
	if st.parser != nil {
		if t, ok := st.parser.result(); ok {
			st.rec.PromptTokens, st.rec.CompletionTokens, st.rec.TotalTokens = t.prompt, t.completion, t.total
		}
	}
	st.rec.LatencyMS = math.Round(float64(end.Sub(start))/1e3) / 1e3
	if st.rec.LatencyMS < 0 {
		st.rec.LatencyMS = 0
	}
	p.lim.spend(end, st.rec.TotalTokens)
	if p.recWake != nil {
		// Off the request's path: one appender writes what queued up,
		// in the order requests finished, in one locked write at most
		// every ledgerDelay; Shutdown and Wait wait for it.
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
}

// ledgerDelay is how long a record may wait for others to be written with
// it. A write per request took a fifth of the proxy's time per request
// under load; this many milliseconds of records are what a crash of okv
// (not of the child) can lose.
const ledgerDelay = 50 * time.Millisecond

// appendLoop hands queued records to the ledger, in batches when the
// ledger can take them (FileLedger: one locked write per batch).
func (p *Proxy) appendLoop() {
	all, batched := p.cfg.Ledger.(interface{ AppendAll([]Record) error })
	var spare []Record
	t := time.NewTimer(ledgerDelay)
	t.Stop()
	for range p.recWake {
		t.Reset(ledgerDelay)
		select {
		case <-t.C:
		case <-p.recFlush:
			t.Stop()
		}
		p.recMu.Lock()
		batch := p.recQ
		p.recQ = spare[:0]
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
		if err != nil {
			p.errLog.Printf("okv proxy: %v", err)
		}
		p.pending.Add(-len(batch))
		clear(batch)
		spare = batch
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
