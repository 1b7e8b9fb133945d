package scan

import (
	"bytes"
	"testing"
)

// FuzzParseDiff: the reader of git's plain and combined diffs, with commit
// messages, never panics, and what it hands on lies within its input.
func FuzzParseDiff(f *testing.F) {
	f.Add([]byte("\x00abc\nsubject\n\nbody\n\x00\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n"))
	f.Add([]byte("\x00def\nmerge\n\x00\n\ndiff --cc f\nindex a,b..c\n--- a/f\n+++ b/f\n@@@ -2,1 -2,1 +2,2 @@@\n -SIDE\n++KEY\n +MAIN\n@@@ -4,0 -4,0 +5,1 @@@\n++extra\n"))
	f.Add([]byte("diff --git a/x b/x\nBinary files a/x and b/x differ\n@@@@ -1 -1 -1 +1 @@@@\n+++\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := parseDiff(bytes.NewReader(data), func(df *diffFile) {
			n := 0
			for _, h := range df.hunks {
				n += len(h.data)
			}
			if n > len(data) {
				t.Fatalf("%d bytes of hunks from %d bytes of diff", n, len(data))
			}
		}, func(string) {})
		_ = err
	})
}
