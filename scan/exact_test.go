package scan

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// scanExact finds a value and a key shape wherever a chunk boundary falls,
// once each, at the right line and column.
func TestScanExactChunkBoundaries(t *testing.T) {
	defer func(n int) { exactChunk = n }(exactChunk)
	exactChunk = 64
	key := "sk-proj-" + rep("a_", 37) + "T3BlbkFJ" + rep("-b", 37)
	pw := "Tr0ub4dor&3/correct-horse"
	eng := newEngine([]Known{{Profile: "dev", Name: "DB_PASSWORD", Value: pw}})
	for pad := 0; pad < 200; pad += 7 {
		doc := strings.Repeat("x", pad) + "\n" + pw + " é " + key + "\n" + rep("y", pad) + pw
		fs, keys, n, err := eng.scanExact(bytes.NewReader([]byte(doc)), docInfo{file: "f", key: "f"}, &scratch{})
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
