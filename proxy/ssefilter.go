package proxy

import (
	"bytes"
	"io"
	"slices"
)

// sseFilter passes a text/event-stream through a provider's EventFilter,
// event by event: each event is held until its blank line, then sent as
// it came, rewritten, or not at all. Only events made of one "data:"
// line (besides "event:", "id:" and comment lines) are handed to the
// filter; others, and events larger than maxEventBytes, pass unchanged.
// Lines end in LF or CRLF (what OpenAI's and every SSE server's streams
// use); a stream framed by bare CRs passes unfiltered, as one long line.
type sseFilter struct {
	rc     io.ReadCloser
	filter EventFilter
	in     []byte // bytes read, not yet sent; in[:scan] has no event's end
	scan   int
	out    []byte // bytes ready for the client
	err    error
}

// sseReadSize is the least room an sseFilter reads into, at the end of
// its input: events are small, and most reads bring one.
const sseReadSize = 4 << 10

func newSSEFilter(rc io.ReadCloser, f EventFilter) *sseFilter {
	return &sseFilter{rc: rc, filter: f}
}

func (s *sseFilter) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			if len(s.in) > 0 { // a last event without its blank line
				s.out, s.in = s.in, nil
				break
			}
			return 0, s.err
		}
		// Read straight into the input's spare room: no buffer of its
		// own per stream, and no copy.
		s.in = slices.Grow(s.in, sseReadSize)
		n, err := s.rc.Read(s.in[len(s.in):cap(s.in)])
		s.in = s.in[:len(s.in)+n]
		s.err = err
		s.events()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	if len(s.out) == 0 {
		s.out = nil
	}
	return n, nil
}

// events moves every whole event of s.in to s.out, filtered.
func (s *sseFilter) events() {
	for {
		// An event ends at an empty line: "\n\n" or "\n\r\n" after the
		// start of the event.
		i := s.scan
		end := -1
		for {
			j := bytes.IndexByte(s.in[i:], '\n')
			if j < 0 {
				break
			}
			j += i + 1 // just past a line's end
			rest := s.in[j:]
			if len(rest) > 0 && rest[0] == '\n' {
				end = j + 1
				break
			}
			if len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n' {
				end = j + 2
				break
			}
			i = j
		}
		if end < 0 {
			s.scan = max(len(s.in)-2, 0)
			if len(s.in) > maxEventBytes {
				s.out = append(s.out, s.in...) // too large to hold: unfiltered
				s.in, s.scan = s.in[:0], 0
			}
			return
		}
		s.out = append(s.out, s.event(s.in[:end])...)
		s.in = append(s.in[:0], s.in[end:]...)
		s.scan = 0
	}
}

// event filters one whole event (its blank line included).
func (s *sseFilter) event(ev []byte) []byte {
	dataFrom, dataTo, ndata := 0, 0, 0
	for off := 0; off < len(ev); {
		j := bytes.IndexByte(ev[off:], '\n')
		line := ev[off : off+j]
		next := off + j + 1
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0, line[0] == ':':
		case bytes.HasPrefix(line, []byte("data:")):
			ndata++
			dataFrom, dataTo = off+5, off+len(line)
			if dataFrom < dataTo && ev[dataFrom] == ' ' {
				dataFrom++
			}
		case bytes.HasPrefix(line, []byte("event:")), bytes.HasPrefix(line, []byte("id:")):
		default:
			return ev // a field the filter does not know
		}
		off = next
	}
	if ndata != 1 {
		return ev
	}
	data := ev[dataFrom:dataTo]
	out, drop := s.filter(data)
	if drop {
		return nil
	}
	if bytes.Equal(out, data) {
		return append([]byte(nil), ev...)
	}
	r := make([]byte, 0, len(ev)-len(data)+len(out))
	r = append(r, ev[:dataFrom]...)
	r = append(r, out...)
	return append(r, ev[dataTo:]...)
}

func (s *sseFilter) Close() error { return s.rc.Close() }
