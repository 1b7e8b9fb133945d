package shell

import (
	"bytes"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Masker is a streaming redactor: it writes to w what is written to it, with
// every occurrence of a secret value replaced by <okv:NAME>. It is what
// `okv run --mask` puts between the child and the terminal.
//
// Values are matched leftmost first and, among values starting at the same
// byte, longest first; a value split across writes is still masked, however
// long the pause between the writes. To do that the Masker holds back the
// end of a write while it could be the start of a value (at most the
// longest value's length minus one byte) until the next bytes (or Close)
// decide, and only then: output that cannot begin a value, such as a prompt
// without a newline, goes through at once. Output without any value is
// passed on byte for byte.
//
// A Masker is safe for concurrent use. Close writes what is held back; it
// does not close w.
type Masker struct {
	mu     sync.Mutex
	w      io.Writer
	vals   []maskValue // longest first
	maxLen int
	first  [256]bool // first bytes of the values
	pend   []byte    // held-back tail of the output so far
	shown  int       // pend[:shown] was already written by Flush
	cands  []maskCand
	out    []byte
	closed bool
	err    error

	idle  time.Duration // Flush after this much quiet
	timer *time.Timer
}

// MaskShowMax is the most bytes of a value that Flush ever writes before
// the value is decided: at most MaskShowMax, and at most a quarter of the
// value (2 bytes of an 8-byte password, 4 of an API key). That much
// identifies no key: "sk-p" starts every OpenAI project key.
const MaskShowMax = 4

// SetIdleFlush makes the Masker Flush once no output has come for d: an
// interactive prompt that happens to end in the first bytes of a value
// ("Continue? [y/s" …) shows while the program waits for an answer. Use it
// on a terminal only: on a pipe or a file nobody answers prompts, and
// holding back costs nothing.
func (m *Masker) SetIdleFlush(d time.Duration) {
	m.mu.Lock()
	m.idle = d
	m.mu.Unlock()
}

type maskValue struct {
	val    []byte
	repl   []byte
	needle []byte // the part of val searched for: it starts with a rare byte
	off    int    // where needle starts in val
	show   int    // how much of val Flush may write before it is decided
}

type maskCand struct {
	start, end int
	v          int
}

// ErrMaskerClosed is returned by writes to a closed Masker.
var ErrMaskerClosed = errors.New("write to closed masker")

// maskNeedleLen is how much of a value is searched for with bytes.Index
// before the whole value is compared.
const maskNeedleLen = 16

// MinMaskLength is the shortest value the masker replaces; okv scan uses
// the same floor.
const MinMaskLength = 8

// NewMasker returns a Masker writing to w that masks the values of secrets
// (name → value). Values shorter than MinMaskLength are ignored; a value
// stored under several names is masked with the first name in sorted order.
func NewMasker(w io.Writer, secrets map[string]string) *Masker {
	return newMasker(w, secrets, false)
}

// NewTerminalMasker is NewMasker for the output side of a pseudo-terminal:
// it also masks each multi-line value in the form the terminal's ONLCR
// setting gives it, every "\n" turned into "\r\n" (a PEM key or a
// service-account JSON printed on a pty).
func NewTerminalMasker(w io.Writer, secrets map[string]string) *Masker {
	return newMasker(w, secrets, true)
}

func newMasker(w io.Writer, secrets map[string]string, onlcr bool) *Masker {
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	m := &Masker{w: w}
	seen := map[string]bool{}
	for _, n := range names {
		v := secrets[n]
		// Values shorter than MinMaskLength (DEBUG=1, PORT=8080) are not
		// secrets worth garbling every "1" of the output for.
		if len(v) < MinMaskLength {
			continue
		}
		forms := []string{v}
		if onlcr && strings.Contains(v, "\n") {
			forms = append(forms, strings.ReplaceAll(v, "\n", "\r\n"))
		}
		for _, f := range forms {
			if !seen[f] {
				seen[f] = true
				m.add(f, n)
			}
		}
	}
	sort.SliceStable(m.vals, func(i, j int) bool { return len(m.vals[i].val) > len(m.vals[j].val) })
	return m
}

func (m *Masker) add(v, name string) {
	mv := maskValue{val: []byte(v), repl: []byte("<okv:" + name + ">"), show: min(MaskShowMax, len(v)/4)}
	k := min(len(v), maskNeedleLen)
	best := 0
	for j := 0; j+k <= len(v); j++ {
		if byteRank(v[j]) < byteRank(v[best]) {
			best = j
		}
	}
	mv.off, mv.needle = best, mv.val[best:best+k]
	m.vals = append(m.vals, mv)
	m.maxLen = max(m.maxLen, len(v))
	m.first[v[0]] = true
}

// byteRank orders bytes from rare (0) to common (6) in program output, so
// that the byte a value is searched by seldom shows up.
func byteRank(c byte) int {
	switch {
	case c == '\n' || c == ' ' || c == '\t' || c == '\r':
		return 6
	case c < 0x20 || c == 0x7f:
		return 0
	case c >= 0x80:
		return 3
	case c >= 'A' && c <= 'Z':
		if bytes.IndexByte([]byte("QXZJKVWY"), c) >= 0 {
			return 1
		}
		return 2
	case c >= '0' && c <= '9':
		return 3
	case c >= 'a' && c <= 'z':
		if bytes.IndexByte([]byte("qxzjkvwy"), c) >= 0 {
			return 3
		}
		if bytes.IndexByte([]byte("etaoinsrhl"), c) >= 0 {
			return 6
		}
		return 5
	case bytes.IndexByte([]byte(".,-_/:()'\"="), c) >= 0:
		return 5
	}
	return 2
}

// Write masks p and writes what can be decided of it to the underlying
// writer. It reports len(p) on success: held-back bytes count as written.
func (m *Masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrMaskerClosed
	}
	if m.err != nil {
		return 0, m.err
	}
	if len(m.vals) == 0 {
		n, err := m.w.Write(p)
		m.err = err
		return n, err
	}
	buf := p
	if len(m.pend) > 0 {
		m.pend = append(m.pend, p...)
		buf = m.pend
	}
	keep, err := m.process(buf, false)
	// Keep the undecided tail (it may alias m.pend: append copies safely).
	m.pend = append(m.pend[:0], buf[keep:]...)
	if err != nil {
		m.err = err
		return 0, err
	}
	if len(m.pend) > 0 && m.idle > 0 {
		if m.timer == nil {
			m.timer = time.AfterFunc(m.idle, func() { m.Flush() })
		} else {
			m.timer.Reset(m.idle)
		}
	}
	return len(p), nil
}

// Flush writes what may be shown of the held-back bytes: everything up to
// MaskShowMax bytes (at most a quarter) into any value that may start
// there. The bytes stay held back for matching, so a value whose first
// bytes were flushed is still masked when the rest comes: "sk-p<okv:KEY>".
func (m *Masker) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMaskerClosed
	}
	if m.err != nil {
		return m.err
	}
	f := len(m.pend)
	for s := 0; s < f; s++ {
		if !m.first[m.pend[s]] {
			continue
		}
		for i := range m.vals {
			v := &m.vals[i]
			n := min(len(v.val), len(m.pend)-s)
			if bytes.Equal(m.pend[s:s+n], v.val[:n]) {
				f = min(f, s+v.show)
			}
		}
	}
	if f <= m.shown {
		return nil
	}
	_, m.err = m.w.Write(m.pend[m.shown:f])
	m.shown = f
	return m.err
}

func (m *Masker) closeLocked() error {
	if m.err != nil {
		return m.err
	}
	if len(m.pend) == 0 {
		return nil
	}
	_, err := m.process(m.pend, true)
	m.pend = m.pend[:0]
	m.shown = 0
	m.err = err
	return err
}

// Close writes the held-back bytes. It does not close the underlying writer.
func (m *Masker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	err := m.closeLocked()
	m.closed = true
	return err
}

// process writes buf, masked, up to the point where what follows might
// still turn out to be a value, and returns that point; with final set it
// writes everything.
func (m *Masker) process(buf []byte, final bool) (int, error) {
	cands := m.cands[:0]
	for vi := range m.vals {
		v := &m.vals[vi]
		for from := 0; ; {
			i := bytes.Index(buf[from:], v.needle)
			if i < 0 {
				break
			}
			pos := from + i
			if s := pos - v.off; s >= 0 && s+len(v.val) <= len(buf) && bytes.Equal(buf[s:s+len(v.val)], v.val) {
				cands = append(cands, maskCand{s, s + len(v.val), vi})
			}
			from = pos + 1
		}
	}
	m.cands = cands
	// Bytes before shown were written by Flush: they are not written again,
	// but a value starting among them is still replaced (its shown first
	// bytes stay on screen).
	shown := m.shown
	if len(cands) > 1 {
		sort.Slice(cands, func(i, j int) bool {
			if cands[i].start != cands[j].start {
				return cands[i].start < cands[j].start
			}
			return cands[i].end > cands[j].end
		})
	}
	out := m.out[:0]
	cur := 0 // bytes before cur are written or replaced
	masked := false
	for _, c := range cands {
		if c.start < cur {
			continue
		}
		// Near the end, a longer value might still start here: only
		// positions before the first possible prefix are decided.
		if !final && c.start > len(buf)-m.maxLen && c.start >= m.holdFrom(buf, cur) {
			break
		}
		out = append(out, buf[max(cur, shown):max(c.start, shown)]...)
		out = append(out, m.vals[c.v].repl...)
		cur, masked = c.end, true
	}
	keep := len(buf)
	if !final {
		keep = m.holdFrom(buf, cur)
	}
	var err error
	if !masked {
		// Nothing masked: pass the caller's bytes on without copying.
		if keep > shown {
			_, err = m.w.Write(buf[shown:keep])
		}
	} else {
		out = append(out, buf[max(cur, shown):max(keep, shown)]...)
		_, err = m.w.Write(out)
	}
	m.out = out[:0]
	m.shown = max(0, shown-keep)
	return keep, err
}

// holdFrom returns the first position at or after from where the rest of
// buf is a proper prefix of some value, or len(buf).
func (m *Masker) holdFrom(buf []byte, from int) int {
	for p := max(from, len(buf)-m.maxLen+1); p < len(buf); p++ {
		if !m.first[buf[p]] {
			continue
		}
		rest := buf[p:]
		for i := range m.vals {
			if v := m.vals[i].val; len(v) > len(rest) && bytes.HasPrefix(v, rest) {
				return p
			}
		}
	}
	return len(buf)
}
