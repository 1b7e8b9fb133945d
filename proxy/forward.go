package proxy

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"sync"
)

// dropped reports whether the client's header k is never forwarded.
// httputil.ReverseProxy has already removed the hop-by-hop headers (and
// those the Connection header names) and the X-Forwarded-For, -Host,
// -Proto and Forwarded headers.
func dropped(k string) bool {
	switch k {
	case "Cookie", "Accept-Encoding", "Expect",
		"X-Real-Ip", "X-Forwarded-Server", "Via":
		return true
	}
	return false
}

// rewrite makes the upstream request: the upstream's URL, the client's
// end-to-end headers but credentials and any header that holds the token,
// and the profile's credentials.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	out.URL.Scheme = p.upstream.Scheme
	out.URL.Host = p.upstream.Host
	out.URL.Path = p.upstreamPath(pr.In.URL.Path)
	out.URL.RawPath = ""
	out.Host = ""
	st := stateOf(out.Context())
	if len(st.body) > 0 && out.Body != nil {
		// ReverseProxy wraps the body in a reader of its own, which the
		// Transport cannot tell is in memory: it then writes the headers
		// and the body in two writes (two packets, and two reads for the
		// upstream). A body the proxy read is in memory (checkBody made
		// pr.In.Body an io.NopCloser of a bytes.Reader, unread yet);
		// handed over as such, it leaves in one write with its headers.
		out.Body = pr.In.Body
	}
	h := out.Header
	for k, vs := range h {
		if dropped(k) || k == p.keyHeader {
			delete(h, k)
			continue
		}
		for _, v := range vs {
			if strings.Contains(v, p.cfg.Token) {
				delete(h, k)
				break
			}
		}
	}
	// No WebSocket compression: okv reads and scrubs the frames.
	delete(h, "Sec-Websocket-Extensions")
	for _, c := range p.creds {
		delete(h, c)
		if v := p.credVals[c]; v != nil {
			h[c] = v
		}
	}
	if p.cfg.APIKey != "" {
		h[p.keyHeader] = []string{p.pv.KeyPrefix + p.cfg.APIKey}
	}
	// ReverseProxy hands every 1xx answer to the client and then lets the
	// Transport read another without limit; this caps them (oneXXWriter
	// keeps them from the client).
	pr.Out = out.WithContext(httptrace.WithClientTrace(out.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error {
			if st.n1xx++; st.n1xx > max1xx {
				return errTooMany1xx
			}
			return nil
		},
	}))
}

// max1xx is how many informational answers an upstream may send before
// its final one: http.Transport's own limit when nobody reads them.
const max1xx = 5

var errTooMany1xx = errors.New("the upstream sent too many 1xx responses")

// oneXXWriter drops the 1xx answers ReverseProxy relays: their headers
// would reach the client unscrubbed, and no SDK uses them. (100 Continue
// to the client is the server's, sent when the handler reads the body.)
type oneXXWriter struct{ http.ResponseWriter }

func (w oneXXWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w oneXXWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// modifyResponse records the status, scrubs the key from the answer and
// sets up the usage parser.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	if resp.Request == nil || stateOf(resp.Request.Context()) == nil {
		return errors.New("the transport's answer names no request") // a RoundTripper that breaks its contract
	}
	st := stateOf(resp.Request.Context())
	st.rec.Status = resp.StatusCode
	scrubHeader(resp.Header, p.cfg.APIKey)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// A WebSocket (the Realtime API): ReverseProxy tunnels it; the
		// upstream's side is read frame by frame, scrubbed per message
		// and its usage counted, on its way to the client.
		rwc, ok := resp.Body.(io.ReadWriteCloser)
		if !ok {
			return nil
		}
		if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
			if len(p.key) > 0 {
				resp.Body = &scrubbedConn{ReadWriteCloser: rwc, r: newScrubBody(io.NopCloser(rwc), p.key)}
			}
			return nil
		}
		if len(resp.Header["Sec-Websocket-Extensions"]) > 0 {
			// Not asked for (rewrite removes the client's offer):
			// compressed frames cannot be scrubbed or read.
			return errUnreadable
		}
		st.rec.Streamed = true
		resp.Body = &scrubbedConn{ReadWriteCloser: rwc, r: newWSReader(rwc, p.key, p.wsMessage(st))}
		return nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := strings.Cut(ct, ";")
	kind, _ := classifyBody(ct)
	encoding, err := p.decode(resp)
	if err != nil {
		return err
	}
	switch {
	case strings.EqualFold(strings.TrimSpace(mt), "text/event-stream"):
		st.rec.Streamed = true
		if encoding == "" || strings.EqualFold(encoding, "identity") {
			st.parser = &sseUsage{usage: p.pv.Usage}
		}
	case kind == bodyJSON:
		j := &jsonUsage{usage: p.pv.Usage, encoding: encoding}
		if n := resp.ContentLength; n > 0 && n <= maxJSONBuffer {
			j.head = make([]byte, 0, n) // one allocation, not a growing copy
		}
		st.parser = j
	}
	if st.parser != nil {
		resp.Body = &usageBody{rc: resp.Body, p: st.parser}
	}
	if st.filter != nil && st.rec.Streamed {
		if st.parser == nil {
			// The proxy asked for usage in a stream it cannot read.
			return errors.New("the upstream's event stream has a Content-Encoding (" + encoding + ") okv cannot filter")
		}
		// Above the parser, which counts the usage the filter drops.
		resp.Body = newSSEFilter(resp.Body, st.filter)
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	// Outermost, so the usage parser sees the upstream's bytes and the
	// client sees them with the key replaced.
	resp.Body = newScrubBody(resp.Body, p.key)
	return nil
}

// scrubbedConn is the upstream side of a tunnel: reads scrubbed, writes
// straight through.
type scrubbedConn struct {
	io.ReadWriteCloser
	r io.Reader
}

func (c *scrubbedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// copyBuffers are ReverseProxy's buffers for copying answers to clients:
// without a BufferPool it makes a new 32 KiB buffer per request (half of
// what a short chat completion allocated through the proxy, in
// BenchmarkServe). The answer's scrubbing works in the same buffer
// (scrubBody).
var copyBuffers bufferPool

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == 32<<10 {
		buf = buf[:cap(buf)]
		b.p.Put(&buf)
	}
}

// upstreamFailed answers a request the upstream did not answer.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r.Context())
	switch {
	case st.tooLarge.Load():
		e := p.tooLarge()
		st.rec.Status, st.rec.Refused = e.Status, e.Code
		p.refuse(w, e)
	case r.Context().Err() != nil:
		st.rec.Status = 499 // the client went away before the upstream answered
	case errors.Is(err, errUnreadable):
		e := &Refusal{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_unreadable",
			Msg: "the upstream's answer cannot be scrubbed of the key: " + err.Error()}
		st.rec.Status = e.Status
		p.refuse(w, e)
	default:
		e := &Refusal{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_unreachable",
			Msg: "the upstream request failed: " + err.Error()}
		st.rec.Status = e.Status
		p.refuse(w, e)
	}
}

// plainListener refuses TLS on the plain-HTTP listener at once: a client
// that dials https:// (or wss://) sends a TLS handshake, which net/http's
// server would take for the start of a request line and wait on until its
// header timeout. The first byte of a TLS handshake record is 0x16, which
// no HTTP method starts with.
type plainListener struct {
	net.Listener
	log *log.Logger
}

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &plainConn{Conn: c, log: l.log}, nil
}

type plainConn struct {
	net.Conn
	log  *log.Logger
	once sync.Once
	tls  bool
}

func (c *plainConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.once.Do(func() {
		if n > 0 && b[0] == 0x16 {
			c.tls = true
			c.log.Printf("okv proxy: refused a TLS handshake from %s: this proxy speaks plain HTTP on loopback; use an http:// (or ws://) base URL, not https:// or wss://", c.RemoteAddr())
			c.Conn.Close()
		}
	})
	if c.tls {
		return 0, io.EOF
	}
	return n, err
}

// errUnreadable is an answer okv cannot scrub: refused (502), never
// passed on.
var errUnreadable = errors.New("an encoding okv cannot decode (it decodes gzip and deflate) or WebSocket compression")

// decode undoes a Content-Encoding the upstream sent unasked (the
// Transport asks for gzip itself and decodes that): gzip and deflate
// are decoded with the standard library, anything else (br, zstd,
// several codings) is errUnreadable, as the key could pass through
// compressed. It returns the encoding left on the body ("").
func (p *Proxy) decode(resp *http.Response) (string, error) {
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if len(resp.Header["Content-Encoding"]) > 1 {
		return "", errUnreadable
	}
	var rc io.ReadCloser
	switch enc {
	case "", "identity":
		resp.Header.Del("Content-Encoding")
		return "", nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return "", errUnreadable
		}
		rc = &decodedBody{Reader: zr, body: resp.Body}
	case "deflate":
		// HTTP's deflate is the zlib format (RFC 9110 8.4.1.2).
		zr, err := zlib.NewReader(resp.Body)
		if err != nil {
			return "", errUnreadable
		}
		rc = &decodedBody{Reader: zr, body: resp.Body}
	default:
		return "", errUnreadable
	}
	resp.Body = rc
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return "", nil
}

// decodedBody is a decompressed answer; Close closes the upstream body.
type decodedBody struct {
	io.Reader
	body io.ReadCloser
}

func (d *decodedBody) Close() error { return d.body.Close() }
