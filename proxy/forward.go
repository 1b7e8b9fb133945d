package proxy

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// dropped reports whether k is a request header never forwarded as the
// client sent it.
func dropped(k string) bool {
	switch k {
	case "Authorization", "Openai-Organization", "Openai-Project",
		"Cookie", "Accept-Encoding", "Proxy-Authorization",
		// Framing the proxy writes itself, and what it already did.
		"Content-Length", "Host", "Expect",
		"X-Real-Ip", "X-Forwarded-Server", "Via",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// first is h.Get(k) for a canonical name k, without canonicalizing it again.
func first(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// isHop reports whether k is a hop-by-hop header (RFC 9110, 7.6.1): about
// one connection, never forwarded as it is.
func isHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionListed returns the canonical names of the headers that the
// Connection header names as hop-by-hop.
func connectionListed(h http.Header) []string {
	var names []string
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = trimOWS(f); f != "" {
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	return names
}

func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for _, f := range strings.Split(v, ",") {
			if asciiEqualFold(trimOWS(f), token) {
				return true
			}
		}
	}
	return false
}

// upgradeType is the protocol a request or response switches to, if any.
func upgradeType(h http.Header) string {
	if !hasToken(h["Connection"], "upgrade") {
		return ""
	}
	return first(h, "Upgrade")
}

// outRequest is the request sent upstream for r: the upstream's URL, the
// client's end-to-end headers but credentials and those that hold the
// token, the profile's credentials, and the body as admit left it.
// The request and its header are cc's, reused, when p.reuses(cc).
func (p *Proxy) outRequest(r *http.Request, st *reqState, cc *clientConn) *http.Request {
	var out *http.Request
	var u *url.URL
	var h http.Header
	if p.reuses(cc) {
		out, u, h = &cc.out, &cc.outURL, cc.outHeader
		clear(h)
	} else {
		out, u, h = new(http.Request), new(url.URL), make(http.Header, len(r.Header)+3)
	}
	*out = *r // and so r's context
	*u = url.URL{
		Scheme:   p.upstream.Scheme,
		Host:     p.upstream.Host,
		Path:     p.upstreamPath(r.URL.Path),
		RawQuery: r.URL.RawQuery,
	}
	out.URL = u
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.TransferEncoding = nil
	out.Trailer = nil
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1

	var listed []string
	if len(r.Header["Connection"]) > 0 {
		listed = connectionListed(r.Header)
	}
next:
	for k, vs := range r.Header {
		if isHop(k) || dropped(k) {
			continue
		}
		for _, l := range listed {
			if k == l {
				continue next
			}
		}
		for _, v := range vs {
			if strings.Contains(v, p.cfg.Token) {
				continue next
			}
		}
		h[k] = vs
	}
	if up := upgradeType(r.Header); up != "" {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = []string{up}
	}
	// The profile's credentials: slices made once, which nothing changes.
	if p.authVals != nil {
		h["Authorization"] = p.authVals
	}
	if p.orgVals != nil {
		h["Openai-Organization"] = p.orgVals
	}
	if p.projVals != nil {
		h["Openai-Project"] = p.projVals
	}
	out.Header = h

	switch {
	case st.body != nil:
		// admit read the body: it is st.mem, which nothing reads but this.
		st.mem.off = 0
		out.Body = &st.mem
		out.ContentLength = int64(len(st.body))
		if _, own := p.transport.(*upstreamTransport); !own {
			body := st.body
			out.GetBody = func() (io.ReadCloser, error) { return &memBody{b: body}, nil }
		}
	case r.Body == nil || r.Body == http.NoBody:
		out.Body, out.ContentLength = http.NoBody, 0
	}
	return out
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// forward sends r upstream and its answer back to w.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, st *reqState, cc *clientConn) {
	out := p.outRequest(r, st, cc)
	// The client's connection is watched for a disconnect once nothing
	// else reads it: after the request body.
	bodyRead := func() bool { return out.Body == http.NoBody || st.body != nil || st.bodyEOF.Load() }
	watching := false
	if cc != nil && bodyRead() {
		cc.startWatch()
		watching = true
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		p.upstreamFailed(w, r, st, err)
		return
	}
	defer resp.Body.Close()
	if cc != nil && !watching && bodyRead() {
		cc.startWatch()
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		p.tunnel(w, r, resp, st, cc)
		return
	}
	stream := p.inspectResponse(resp, st)

	var listed []string
	if len(resp.Header["Connection"]) > 0 {
		listed = connectionListed(resp.Header)
	}
	if rw, ok := w.(*respWriter); ok && len(rw.header) == 0 {
		// The proxy's own writer takes the upstream's header itself, the
		// hop-by-hop fields deleted, rather than a copy.
		for k := range resp.Header {
			if isHop(k) || slices.Contains(listed, k) {
				delete(resp.Header, k)
			}
		}
		rw.header = resp.Header
	} else {
		dst := w.Header()
		for k, vs := range resp.Header {
			if !isHop(k) && !slices.Contains(listed, k) {
				dst[k] = vs
			}
		}
	}
	w.WriteHeader(resp.StatusCode)

	// Event streams and bodies of unknown length go out as they come; the
	// others leave with their headers when the body is whole (or the
	// buffer full).
	stream = stream || resp.ContentLength < 0
	flusher, _ := w.(http.Flusher)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away; closing the body drops the upstream request
			}
			if stream && flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			return
		}
		if rerr != nil {
			// The upstream failed mid-answer: the client must not take
			// what it got for the whole answer.
			p.errLog.Printf("okv proxy: reading the upstream's answer: %v", rerr)
			if a, ok := w.(interface{ abort() }); ok {
				a.abort()
				return
			}
			panic(http.ErrAbortHandler)
		}
	}
}

// inspectResponse records the status, scrubs the key from the answer and
// sets up the usage parser; it reports whether the answer is an event
// stream.
func (p *Proxy) inspectResponse(resp *http.Response, st *reqState) bool {
	st.rec.Status = resp.StatusCode
	scrubHeader(resp.Header, p.key)
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	// Outermost, so the usage parser sees the upstream's bytes and the
	// client sees them with the key replaced.
	defer func() { resp.Body = st.scrub.wrap(resp.Body, p.key) }()
	ct := first(resp.Header, "Content-Type")
	kind, _ := classifyBody(ct)
	mt, _, _ := strings.Cut(ct, ";")
	switch {
	case strings.EqualFold(strings.TrimSpace(mt), "text/event-stream"):
		st.rec.Streamed = true
		if ce := first(resp.Header, "Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
			return true // compressed stream: passed through, usage unknown
		}
		st.sse = sseUsage{}
		st.parser = &st.sse
	case kind == bodyJSON:
		st.json = jsonUsage{head: st.json.head[:0], encoding: first(resp.Header, "Content-Encoding")}
		st.parser = &st.json
	default:
		return false
	}
	st.usage = usageBody{rc: resp.Body, p: st.parser}
	resp.Body = &st.usage
	return st.rec.Streamed
}

// upstreamFailed answers a request the upstream did not answer.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	switch {
	case st.tooLarge.Load():
		e := p.tooLarge()
		st.rec.Status, st.rec.Refused = e.status, e.code
		e.write(w)
	case r.Context().Err() != nil:
		// The client went away before the upstream answered.
		st.rec.Status = 499
	default:
		e := &apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_unreachable",
			msg: "the upstream request failed: " + err.Error()}
		st.rec.Status = e.status
		e.write(w)
	}
}

// tunnel joins the client and the upstream after 101 Switching Protocols
// (a WebSocket, such as the Realtime API's), until either side closes.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, resp *http.Response, st *reqState, cc *clientConn) {
	st.rec.Status = resp.StatusCode
	want, got := upgradeType(r.Header), upgradeType(resp.Header)
	upConn, ok := resp.Body.(io.ReadWriteCloser)
	if want == "" || !strings.EqualFold(want, got) || !ok {
		e := &apiError{status: http.StatusBadGateway, typ: "server_error", code: "bad_upgrade",
			msg: "the upstream switched to a protocol the client did not ask for"}
		st.rec.Status = e.status
		e.write(w)
		return
	}
	if cc != nil {
		cc.stopWatch() // the tunnel reads the client from now on
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		e := &apiError{status: http.StatusBadGateway, typ: "server_error", code: "bad_upgrade",
			msg: "this connection cannot switch protocols"}
		st.rec.Status = e.status
		e.write(w)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	scrubHeader(resp.Header, p.key)
	h := http.Header{}
	for k, vs := range resp.Header {
		if !isHop(k) {
			h[k] = vs
		}
	}
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{got}
	out := &http.Response{StatusCode: resp.StatusCode, ProtoMajor: 1, ProtoMinor: 1, Header: h}
	if err := out.Write(brw); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upConn, brw.Reader)
		if cw, ok := upConn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(conn, newScrubBody(io.NopCloser(upConn), p.key))
		done <- struct{}{}
	}()
	<-done
	// One side ended: end the other.
	conn.Close()
	upConn.Close()
	<-done
}
