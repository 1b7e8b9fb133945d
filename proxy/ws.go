package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// WebSocket frames (RFC 6455 section 5.2) from the upstream to the
// client, read so that the key is scrubbed per message (a key split over
// two frames of one message included) and each text message is handed to
// the provider's usage reader (Realtime's response.done events). No
// library parses frames of a tunnel ReverseProxy already holds without
// taking over the connection's handshake, hence this reader: it only
// splits frames and keeps their bytes, it never builds or answers frames,
// save the close frame it sends when the budget runs out.

// maxWSMessage bounds one message (all its frames) held for scrubbing.
const maxWSMessage = 16 << 20

// wsProtoError is an upstream's frame okv will not pass on.
type wsProtoError struct{ msg string }

func (e wsProtoError) Error() string { return e.msg }

var errWSCompressed = wsProtoError{"the upstream sent a compressed WebSocket frame (permessage-deflate), which okv cannot scrub"}

type wsReader struct {
	br   *bufio.Reader
	key  []byte
	mark []byte
	// onText is called with each whole text message (scrubbed); a
	// non-empty return ends the tunnel with a close frame carrying it.
	onText func(msg []byte) string

	out  []byte // frames ready for the client
	pend []byte // the frames of a data message not yet whole
	rngs []wsPayload
	text bool
	size int
	err  error
}

type wsPayload struct {
	from, to int
	mask     [4]byte
	masked   bool
}

func newWSReader(r io.Reader, key []byte, onText func([]byte) string) *wsReader {
	var mark []byte
	if len(key) > 0 {
		mark = keyMarker(len(key))
	}
	return &wsReader{br: bufio.NewReaderSize(r, 32<<10), key: key, mark: mark, onText: onText}
}

func (w *wsReader) Read(p []byte) (int, error) {
	for len(w.out) == 0 {
		if w.err != nil {
			return 0, w.err
		}
		if err := w.frame(); err != nil {
			w.err = err
			var pe wsProtoError
			if errors.As(err, &pe) {
				// Tell the client why the tunnel ends.
				w.out = append(w.out, wsClose(1011, "okv proxy: "+pe.Error())...)
				w.err = io.EOF
			}
		}
	}
	n := copy(p, w.out)
	w.out = w.out[n:]
	if len(w.out) == 0 {
		w.out = nil
	}
	return n, nil
}

// frame reads one frame and moves what is ready to w.out.
func (w *wsReader) frame() error {
	var hdr [14]byte
	if _, err := io.ReadFull(w.br, hdr[:2]); err != nil {
		return err
	}
	n := 2
	fin, rsv, op := hdr[0]&0x80 != 0, hdr[0]&0x70, hdr[0]&0x0f
	masked := hdr[1]&0x80 != 0
	length := uint64(hdr[1] & 0x7f)
	switch length {
	case 126:
		if _, err := io.ReadFull(w.br, hdr[2:4]); err != nil {
			return err
		}
		length, n = uint64(binary.BigEndian.Uint16(hdr[2:4])), 4
	case 127:
		if _, err := io.ReadFull(w.br, hdr[2:10]); err != nil {
			return err
		}
		length, n = binary.BigEndian.Uint64(hdr[2:10]), 10
	}
	var mask [4]byte
	if masked {
		if _, err := io.ReadFull(w.br, hdr[n:n+4]); err != nil {
			return err
		}
		copy(mask[:], hdr[n:n+4])
		n += 4
	}
	if rsv != 0 {
		return errWSCompressed
	}
	if length > maxWSMessage || w.size+int(length) > maxWSMessage {
		return wsProtoError{"a WebSocket message from the upstream is too large to scrub"}
	}
	frame := make([]byte, n+int(length))
	copy(frame, hdr[:n])
	if _, err := io.ReadFull(w.br, frame[n:]); err != nil {
		return err
	}
	pl := wsPayload{from: n, to: len(frame), mask: mask, masked: masked}
	if op >= 8 { // a control frame: whole in itself, may come between fragments
		w.scrubFrames(frame, []wsPayload{pl})
		w.out = append(w.out, frame...)
		return nil
	}
	if op != 0 && len(w.pend) > 0 || op == 0 && len(w.pend) == 0 {
		return wsProtoError{"the upstream broke WebSocket fragmentation"}
	}
	if op != 0 {
		w.text = op == 1
	}
	base := len(w.pend)
	w.pend = append(w.pend, frame...)
	pl.from, pl.to = pl.from+base, pl.to+base
	w.rngs = append(w.rngs, pl)
	w.size += int(length)
	if !fin {
		return nil
	}
	msg := w.scrubFrames(w.pend, w.rngs)
	w.out = append(w.out, w.pend...)
	text := w.text
	w.pend, w.rngs, w.size = nil, nil, 0
	if text && w.onText != nil {
		if reason := w.onText(msg); reason != "" {
			w.out = append(w.out, wsClose(1008, reason)...)
			return io.EOF
		}
	}
	return nil
}

// scrubFrames replaces the key in the payloads of buf (the frames of one
// message) taken together, and returns the message (unmasked).
func (w *wsReader) scrubFrames(buf []byte, rngs []wsPayload) []byte {
	var msg []byte
	for _, r := range rngs {
		start := len(msg)
		msg = append(msg, buf[r.from:r.to]...)
		if r.masked {
			for i := range msg[start:] {
				msg[start+i] ^= r.mask[i%4]
			}
		}
	}
	if len(w.key) == 0 || !bytes.Contains(msg, w.key) {
		return msg
	}
	maskKey(msg, w.key, w.mark)
	off := 0
	for _, r := range rngs {
		part := buf[r.from:r.to]
		copy(part, msg[off:off+len(part)])
		if r.masked {
			for i := range part {
				part[i] ^= r.mask[i%4]
			}
		}
		off += len(part)
	}
	return msg
}

// wsClose is an unmasked close frame (server to client) with code and
// reason (clipped to fit a control frame).
func wsClose(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	f := []byte{0x88, byte(2 + len(reason)), byte(code >> 8), byte(code)}
	return append(f, reason...)
}

// wsUsage sums the usage of a WebSocket's messages (each Realtime
// response.done reports its own response's); the tunnel's goroutines
// and finish share it.
type wsUsage struct {
	mu    sync.Mutex
	sum   Tokens
	found bool
	spent int64 // of sum.Total, already counted by the limiter
}

// wsMessage counts one text message's usage as it passes, against tpm and
// the daily budget at once: once either is spent, the tunnel ends with a
// close frame (1008, policy violation) after the message that spent it.
// With a BudgetLedger the tunnel's hold grows with what it spent, so
// other okv processes count it before its record is written.
func (p *Proxy) wsMessage(st *reqState) func([]byte) string {
	return func(msg []byte) string {
		var t Tokens
		if !mayHoldUsage(msg) || !p.pv.Usage(msg, &t) {
			return ""
		}
		st.ws.mu.Lock()
		st.ws.found = true
		st.ws.sum.Prompt += t.Prompt
		st.ws.sum.Completion += t.Completion
		st.ws.sum.Total += t.Total
		st.ws.spent += t.Total
		live := st.ws.spent
		st.ws.mu.Unlock()
		now := p.now()
		p.lim.spend(now, t.Total, 0, 0, 0)
		if p.budget != nil && st.rec.Hold != 0 {
			// Other okv processes see what this tunnel spent so far.
			if err := p.budget.Raise(st.rec.Hold, live, now); err != nil {
				p.errLog.Printf("okv proxy: %v", err)
			}
		}
		return p.lim.over(now)
	}
}
