package proxy

import "testing"

// On Linux the proxy's TCP connections, client and upstream, are rawConns:
// the tests of rawconn_test.go run on them.
func TestWrapConnIsRaw(t *testing.T) {
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	if _, ok := a.(*rawConn); !ok {
		t.Fatalf("wrapConn gave %T, want *rawConn", a)
	}
	h := newHarness(t, nil, nil)
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	tr := h.p.transport.(*upstreamTransport)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.idle) != 1 {
		t.Fatalf("%d idle upstream connections, want 1", len(tr.idle))
	}
	if _, ok := tr.idle[0].c.(*rawConn); !ok {
		t.Errorf("upstream connection is %T, want *rawConn", tr.idle[0].c)
	}
	h.p.srv.mu.Lock()
	defer h.p.srv.mu.Unlock()
	if len(h.p.srv.conns) == 0 {
		t.Fatal("no client connection is open")
	}
	for cc := range h.p.srv.conns {
		if _, ok := cc.c.(*rawConn); !ok {
			t.Errorf("client connection is %T, want *rawConn", cc.c)
		}
	}
}
