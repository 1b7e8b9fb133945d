package shell

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const maskKey = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tT3BlbkFJuV1wXy4zAb7dEf0hIj3kLm6A"

// refMask is the obviously right, slow masker the streaming one must
// agree with: leftmost, then longest, match at each position. It also
// returns the masked spans of the input.
func refMask(in []byte, secrets map[string]string) ([]byte, [][2]int) {
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []byte
	var spans [][2]int
	for p := 0; p < len(in); {
		best, bestName := "", ""
		for _, n := range names {
			v := secrets[n]
			if len(v) >= MinMaskLength && len(v) > len(best) && bytes.HasPrefix(in[p:], []byte(v)) {
				best, bestName = v, n
			}
		}
		if best == "" {
			out = append(out, in[p])
			p++
			continue
		}
		out = append(out, "<okv:"+bestName+">"...)
		spans = append(spans, [2]int{p, p + len(best)})
		p += len(best)
	}
	return out, spans
}

// maskChunks writes in through a Masker in the given pieces.
func maskChunks(t testing.TB, secrets map[string]string, chunks [][]byte) []byte {
	var out bytes.Buffer
	m := NewMasker(&out, secrets)
	for _, c := range chunks {
		n, err := m.Write(c)
		if err != nil || n != len(c) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func split(in []byte, cuts ...int) [][]byte {
	var out [][]byte
	last := 0
	for _, c := range cuts {
		out = append(out, in[last:c])
		last = c
	}
	return append(out, in[last:])
}

func TestMaskOneWrite(t *testing.T) {
	secrets := map[string]string{"OPENAI_API_KEY": maskKey}
	in := []byte("key is " + maskKey + "\nagain:" + maskKey)
	got := maskChunks(t, secrets, [][]byte{in})
	if want := "key is <okv:OPENAI_API_KEY>\nagain:<okv:OPENAI_API_KEY>"; string(got) != want {
		t.Errorf("got %q", got)
	}
}

func TestMaskSplitAnywhere(t *testing.T) {
	secrets := map[string]string{"OPENAI_API_KEY": maskKey, "DB": "hunter2hunter2"}
	in := []byte("a " + maskKey + " b hunter2hunter2 c " + maskKey)
	want, _ := refMask(in, secrets)
	for i := 0; i <= len(in); i++ {
		if got := maskChunks(t, secrets, split(in, i)); !bytes.Equal(got, want) {
			t.Fatalf("split at %d: %q", i, got)
		}
	}
	var bytewise [][]byte
	for i := range in {
		bytewise = append(bytewise, in[i:i+1])
	}
	if got := maskChunks(t, secrets, bytewise); !bytes.Equal(got, want) {
		t.Fatalf("byte by byte: %q", got)
	}
}

func TestMaskOverlaps(t *testing.T) {
	for _, c := range []struct {
		secrets map[string]string
		in      string
		want    string
	}{
		{map[string]string{"S": "abcdefgh", "L": "abcdefghijkl"}, "xabcdefghijkly", "x<okv:L>y"},
		{map[string]string{"S": "abcdefgh", "L": "abcdefghijkl"}, "xabcdefghijx", "x<okv:S>ijx"},
		{map[string]string{"A": "abcdefgh", "B": "efghijkl"}, "abcdefghijkl", "<okv:A>ijkl"},
		{map[string]string{"A": "aaaaaaaa"}, "aaaaaaaaaaaaaaaaa", "<okv:A><okv:A>a"},
		{map[string]string{"DEBUG": "1", "PORT": "8080"}, "listening on 127.0.0.1:8080", "listening on 127.0.0.1:8080"},
		{map[string]string{"B": "same-value", "A": "same-value"}, "same-value", "<okv:A>"},
		{map[string]string{"E": "", "X": "xyz12345"}, "no value here", "no value here"},
	} {
		in := []byte(c.in)
		for i := 0; i <= len(in); i++ {
			if got := maskChunks(t, c.secrets, split(in, i)); string(got) != c.want {
				t.Errorf("%v %q split at %d: got %q, want %q", c.secrets, c.in, i, got, c.want)
			}
		}
	}
}

func TestMaskHoldsOnlyRealPrefixes(t *testing.T) {
	var out bytes.Buffer
	m := NewMasker(&out, map[string]string{"K": maskKey})
	m.Write([]byte("Password: "))
	if out.String() != "Password: " {
		t.Fatalf("a prompt was held back: %q", out.String())
	}
	m.Write([]byte("token sk-pr"))
	if out.String() != "Password: token " {
		t.Fatalf("the possible key start should wait: %q", out.String())
	}
	m.Write([]byte("ide\n"))
	if out.String() != "Password: token sk-pride\n" {
		t.Fatalf("not a key after all: %q", out.String())
	}
	m.Write([]byte("it is " + maskKey[:30]))
	m.Write([]byte(maskKey[30:] + " ok"))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "Password: token sk-pride\nit is <okv:K> ok"; out.String() != want {
		t.Fatalf("got %q", out.String())
	}
	if _, err := m.Write([]byte("x")); !errors.Is(err, ErrMaskerClosed) {
		t.Errorf("write after close: %v", err)
	}
}

func TestMaskFlush(t *testing.T) {
	var out bytes.Buffer
	m := NewMasker(&out, map[string]string{"K": maskKey})
	m.Write([]byte("Enter your key: s"))
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Enter your key: s" {
		t.Fatalf("flush: %q", out.String())
	}
	m.Write([]byte(maskKey + "!"))
	m.Close()
	if want := "Enter your key: s<okv:K>!"; out.String() != want {
		t.Fatalf("got %q", out.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestMaskWriteError(t *testing.T) {
	m := NewMasker(failWriter{}, map[string]string{"K": maskKey})
	if _, err := m.Write([]byte("hello\n")); err == nil {
		t.Fatal("want error")
	}
	if _, err := m.Write([]byte("again\n")); err == nil {
		t.Fatal("errors stick")
	}
}

func TestMaskNoSecrets(t *testing.T) {
	in := []byte("plain output\x00\xff with anything")
	if got := maskChunks(t, nil, split(in, 3, 9)); !bytes.Equal(got, in) {
		t.Errorf("got %q", got)
	}
}

// FuzzMaskSplits: for any split of the input into writes, the Masker writes
// what the reference masker does, and the reference leaves no value
// occurrence untouched.
func FuzzMaskSplits(f *testing.F) {
	f.Add("abc", "bcd", []byte("xxabcdxxbcdabc"), []byte{3, 1, 7})
	f.Add(maskKey, "sk-proj", []byte("a"+maskKey+maskKey[:20]), []byte{40})
	f.Add("aaaaaaaa", "aaaaaaaaa", []byte("aaaaaaaaaaaaaaaaaaaaaaaa"), []byte{1, 1, 1, 1})
	f.Add("1", "8080", []byte("127.0.0.1:8080"), []byte{2, 5})
	f.Fuzz(func(t *testing.T, v1, v2 string, in, cuts []byte) {
		secrets := map[string]string{"A": v1, "B": v2}
		want, spans := refMask(in, secrets)
		for _, v := range []string{v1, v2} {
			if len(v) < MinMaskLength {
				continue
			}
			for i := 0; i+len(v) <= len(in); i++ {
				if !bytes.HasPrefix(in[i:], []byte(v)) {
					continue
				}
				covered := false
				for _, s := range spans {
					if s[0] < i+len(v) && i < s[1] {
						covered = true
					}
				}
				if !covered {
					t.Fatalf("reference leaves %q at %d unmasked", v, i)
				}
			}
		}
		var chunks [][]byte
		rest := in
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		if got := maskChunks(t, secrets, chunks); !bytes.Equal(got, want) {
			t.Fatalf("masked %q in %d writes: got %q, want %q", in, len(chunks), got, want)
		}
	})
}

// FuzzMaskIdentity: without any value in the input, output is the input.
func FuzzMaskIdentity(f *testing.F) {
	f.Add([]byte("hello sk-proj world\n"), uint64(1))
	f.Add([]byte{0, 1, 2, 's', 'k'}, uint64(2))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		secrets := map[string]string{"K": maskKey, "P": "sk-pr0j", "Q": "\x00\x01"}
		for _, v := range secrets {
			if bytes.Contains(in, []byte(v)) {
				return
			}
		}
		r := rand.New(rand.NewPCG(seed, 0))
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := min(len(rest), r.IntN(8)+1)
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		if got := maskChunks(t, secrets, chunks); !bytes.Equal(got, in) {
			t.Fatalf("got %q, want %q", got, in)
		}
		// Flushes between the writes (a terminal's) change nothing either.
		var out bytes.Buffer
		m := NewMasker(&out, secrets)
		for _, c := range chunks {
			m.Write(c)
			if r.IntN(2) == 0 {
				m.Flush()
			}
		}
		m.Close()
		if !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("with flushes: got %q, want %q", out.Bytes(), in)
		}
	})
}

// BenchmarkMasker pipes log-like output in 32 KiB writes through a Masker
// holding five values, none of which occurs.
func BenchmarkMasker(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the server started request handled in ms status ok GET POST /v1/chat/completions model gpt tokens user session sk-learn task-1234 INFO WARN DEBUG")
	var text bytes.Buffer
	for text.Len() < 1<<20 {
		text.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			text.WriteByte('\n')
		} else {
			text.WriteByte(' ')
		}
	}
	data := text.Bytes()
	secrets := map[string]string{
		"OPENAI_API_KEY":    maskKey,
		"OPENAI_ADMIN_KEY":  "sk-admin-" + strings.Repeat("Zq9", 19) + "T3BlbkFJ" + strings.Repeat("w8X", 19) + "A",
		"ANTHROPIC_API_KEY": "sk-ant-api03-" + strings.Repeat("AbC1-", 18) + "AA",
		"DB_PASSWORD":       "correct-horse-battery-staple",
		"STRIPE_KEY":        "sk_live_" + strings.Repeat("4eC39HqLyjWDarjtT1zdp7dc", 1),
	}
	m := NewMasker(discard{}, secrets)
	const chunk = 32 << 10
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(data); off += chunk {
			m.Write(data[off:min(len(data), off+chunk)])
		}
	}
	m.Close()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// With an idle flush, a prompt ending in a value's first bytes shows once
// the child goes quiet, a value written whole is still masked, and so is a
// value whose first byte the flush showed.
func TestMaskerIdleFlush(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	m := NewMasker(w, map[string]string{"KEY": "sk-idle-0123456789"})
	m.SetIdleFlush(20 * time.Millisecond)
	m.Write([]byte("Continue? [y/s"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := out.String()
		mu.Unlock()
		if got == "Continue? [y/s" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held-back prompt never written: %q", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.Write([]byte("k-idle-0123456789 sk-idle-0123456789\n"))
	m.Close()
	mu.Lock()
	defer mu.Unlock()
	if want := "Continue? [y/s<okv:KEY> <okv:KEY>\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// Flush shows at most MaskShowMax bytes, and a quarter, of a value that may
// be starting, however often it is called; the value is still masked when
// the rest comes.
func TestMaskFlushBound(t *testing.T) {
	for _, c := range []struct {
		val  string
		show int
	}{{maskKey, MaskShowMax}, {"hunter22", 2}, {"correct-horse", 3}} {
		var out bytes.Buffer
		m := NewMasker(&out, map[string]string{"K": c.val})
		m.Write([]byte("x "))
		for i := 0; i < len(c.val)-1; i++ {
			m.Write([]byte{c.val[i]})
			if err := m.Flush(); err != nil {
				t.Fatal(err)
			}
			if want := "x " + c.val[:min(i+1, c.show)]; out.String() != want {
				t.Fatalf("%q after %d bytes and Flush: got %q, want %q", c.val, i+1, out.String(), want)
			}
		}
		m.Write([]byte(c.val[len(c.val)-1:] + "!"))
		m.Close()
		if want := "x " + c.val[:c.show] + "<okv:K>!"; out.String() != want {
			t.Errorf("got %q, want %q", out.String(), want)
		}
	}
}

// A flushed possible start that turns out not to be a value is written
// once, not twice.
func TestMaskFlushNotAValue(t *testing.T) {
	var out bytes.Buffer
	m := NewMasker(&out, map[string]string{"K": maskKey})
	m.Write([]byte("Proceed? [y/sk"))
	m.Flush()
	m.Write([]byte("ip] "))
	if want := "Proceed? [y/skip] "; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	m.Close()
	if want := "Proceed? [y/skip] "; out.String() != want {
		t.Fatalf("after Close: got %q", out.String())
	}
}

// On a pty ONLCR turns a multi-line value's \n into \r\n: the terminal
// masker matches that form as well as the value itself.
func TestTerminalMaskerCRLF(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY-----"
	crlf := strings.ReplaceAll(pem, "\n", "\r\n")
	secrets := map[string]string{"TLS_KEY": pem}
	in := []byte("a " + crlf + "\r\nb " + pem + "\n")
	for i := 0; i <= len(in); i++ {
		var out bytes.Buffer
		m := NewTerminalMasker(&out, secrets)
		m.Write(in[:i])
		m.Write(in[i:])
		m.Close()
		if want := "a <okv:TLS_KEY>\r\nb <okv:TLS_KEY>\n"; out.String() != want {
			t.Fatalf("split at %d: got %q", i, out.String())
		}
	}
	var out bytes.Buffer
	m := NewMasker(&out, secrets)
	m.Write([]byte(crlf))
	m.Close()
	if out.String() != crlf {
		t.Errorf("a pipe's masker should not rewrite \\r\\n forms: %q", out.String())
	}
}

// FuzzMaskFlushes: with Flush calls between writes (a terminal's idle
// flushes), the output is the reference masking except that a replaced
// value may be preceded by at most its first min(MaskShowMax, len/4)
// bytes, and no value ever appears whole.
func FuzzMaskFlushes(f *testing.F) {
	f.Add("abcdefgh", "abcdefghijkl", []byte("xabcdefghijkly abcdefghx"), []byte{2, 3, 1, 4}, uint16(0xffff))
	f.Add(maskKey, "sk-proj-zz", []byte("Continue? [y/s"+maskKey+" sk-proj-zz"), []byte{14, 3, 30}, uint16(0x5))
	f.Add("aaaaaaaa", "aaaaaaaab", []byte("aaaaaaaaaaaaaaaaab"), []byte{1, 1, 1, 1, 1, 1}, uint16(0xaaaa))
	f.Fuzz(func(t *testing.T, v1, v2 string, in, cuts []byte, flushes uint16) {
		secrets := map[string]string{"A": v1, "B": v2}
		var out bytes.Buffer
		m := NewMasker(&out, secrets)
		rest := in
		for i, c := range cuts {
			n := min(int(c), len(rest))
			m.Write(rest[:n])
			rest = rest[n:]
			if flushes&(1<<(i%16)) != 0 {
				m.Flush()
			}
		}
		m.Write(rest)
		m.Close()
		got := out.Bytes()
		want, spans := refMask(in, secrets)
		for _, v := range []string{v1, v2} {
			if len(v) >= MinMaskLength && !strings.Contains(v, "<okv:") &&
				bytes.Contains(got, []byte(v)) && !bytes.Contains(want, []byte(v)) {
				t.Fatalf("value %q appears whole in %q", v, got)
			}
		}
		// Walk the reference: unmasked bytes must match exactly, a
		// replacement may follow a short shown prefix of its value.
		gi, ii := 0, 0
		for _, sp := range spans {
			seg := in[ii:sp[0]]
			if !bytes.HasPrefix(got[gi:], seg) {
				t.Fatalf("unmasked bytes differ at %d: got %q, want %q", gi, got, seg)
			}
			gi += len(seg)
			val := in[sp[0]:sp[1]]
			name := "A" // refMask's choice: the first name in sorted order
			if string(val) != v1 {
				name = "B"
			}
			repl := []byte("<okv:" + name + ">")
			ok := false
			for k := 0; k <= min(MaskShowMax, len(val)/4); k++ {
				if bytes.HasPrefix(got[gi:], val[:k]) && bytes.HasPrefix(got[gi+k:], repl) {
					gi += k + len(repl)
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("at %d of %q: want a short prefix of the value, then %s", gi, got, repl)
			}
			ii = sp[1]
		}
		if !bytes.Equal(got[gi:], in[ii:]) {
			t.Fatalf("tail: got %q, want %q", got[gi:], in[ii:])
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
