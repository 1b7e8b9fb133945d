package scan

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// scanChunks finds a value and a key shape wherever a chunk boundary
// falls, once each, at the right line and column (in code points, also
// after multi-byte characters cut by a boundary).
func TestScanExactChunkBoundaries(t *testing.T) {
	key := "sk-proj-" + rep("a_", 37) + "T3BlbkFJ" + rep("-b", 37)
	pw := "Tr0ub4dor&3/correct-horse"
	eng := newEngine([]Known{{Profile: "dev", Name: "DB_PASSWORD", Value: pw}})
	for pad := 0; pad < 200; pad += 7 {
		doc := strings.Repeat("x", pad) + "\n" + pw + " é " + key + "\n" + rep("ü", pad) + pw
		fs, keys, n, err := eng.scanChunks(bytes.NewReader([]byte(doc)), docInfo{file: "f", key: "f"}, &scratch{}, 64)
		if err != nil || n != int64(len(doc)) {
			t.Fatal(err, n)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Rule+":"+strconv.Itoa(f.Line)+":"+strconv.Itoa(f.Column))
		}
		want := []string{"vault-value:2:1", "openai-project-key:2:" + strconv.Itoa(len(pw)+4), "vault-value:3:" + strconv.Itoa(pad+1)}
		if strings.Join(got, " ") != strings.Join(want, " ") || len(keys) != 3 || keys[0] != keys[2] {
			t.Fatalf("pad %d: got %v, want %v (keys %q)", pad, got, want, keys)
		}
	}
}

// FuzzScanChunks: reading a document in small chunks finds the same vault
// values, at the same lines and columns, as reading it whole (and at least
// the same key shapes: one overlapping a vault value reported in an earlier
// chunk is kept).
func FuzzScanChunks(f *testing.F) {
	key := "sk-proj-" + rep("a_", 37) + "T3BlbkFJ" + rep("-b", 37)
	pw := "pa$$w0rd/\"x-é"
	f.Add([]byte("K="+key+"\n"+pw+"\n"), uint8(3))
	f.Add([]byte("\xff\xfeK\x00=\x00p\x00a\x00$\x00$\x00w\x000\x00r\x00d\x00/\x00\"\x00x\x00-\x00\xe9\x00"), uint8(1))
	f.Add([]byte(rep("é", 40)+pw+rep("\n", 3)+pw+pw), uint8(0))
	eng := newEngine([]Known{{Profile: "dev", Name: "K", Value: key}, {Profile: "dev", Name: "P_PASSWORD", Value: pw}})
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		type loc struct {
			key       string
			line, col int
		}
		collect := func(n int) (known []loc, shapes map[string]int) {
			fs, keys, read, err := eng.scanChunks(bytes.NewReader(data), docInfo{}, &scratch{}, n)
			if err != nil || read != int64(len(data)) {
				t.Fatal(err, read)
			}
			shapes = map[string]int{}
			for i, f := range fs {
				if f.Line < 1 || f.Column < 1 {
					t.Fatalf("bad position %+v", f)
				}
				if f.Name == "" {
					shapes[keys[i]]++
					continue
				}
				known = append(known, loc{keys[i], f.Line, f.Column})
			}
			sort.Slice(known, func(i, j int) bool {
				a, b := known[i], known[j]
				if a.line != b.line {
					return a.line < b.line
				}
				if a.col != b.col {
					return a.col < b.col
				}
				return a.key < b.key
			})
			return known, shapes
		}
		wk, ws := collect(len(data) + 1)
		gk, gs := collect(1 + int(chunk))
		if len(wk) != len(gk) {
			t.Fatalf("whole: %v, chunked: %v", wk, gk)
		}
		for i := range wk {
			// The byte order of a UTF-16 match at a boundary may differ;
			// which secret it is, and where, may not.
			if wk[i] != gk[i] {
				t.Fatalf("whole: %v, chunked: %v", wk, gk)
			}
		}
		for k, n := range ws {
			if gs[k] < n {
				t.Fatalf("shape %q: whole %d, chunked %d", k, n, gs[k])
			}
		}
	})
}
