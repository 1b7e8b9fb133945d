package cmd

import "testing"

// TestHiddenLine feeds the prompt's line editor what terminals send.
func TestHiddenLine(t *testing.T) {
	tests := []struct {
		name, in, want string
		pasted, intr   bool
		rest           int // bytes left after the line
	}{
		{"typed", "sk-abc\r", "sk-abc", false, false, 0},
		{"lf", "sk-abc\n", "sk-abc", false, false, 0},
		{"backspace", "sk-abd\x7fc\r", "sk-abc", false, false, 0},
		{"backspace utf8", "é\x7fe\r", "e", false, false, 0},
		{"ctrl-u", "wrong\x15sk-abc\r", "sk-abc", false, false, 0},
		{"arrow keys dropped", "sk-\x1b[Dabc\x1b[A\r", "sk-abc", false, false, 0},
		{"alt-key", "\x1bxy\r", "xy", false, false, 0},
		{"rest of an unbracketed paste", "l1\rl2\rl3\r", "l1", false, false, 6},
		{"bracketed multi-line, ends the line", "\x1b[200~l1\rl2\rl3\r\x1b[201~", "l1\nl2\nl3", true, false, 0},
		{"bracketed without newline waits for enter", "\x1b[200~l1\nl2\x1b[201~\r", "l1\nl2", true, false, 0},
		{"bracketed drops control characters", "\x1b[200~a\x01b\tc\x1b[201~\r", "ab\tc", true, false, 0},
		{"ctrl-c", "sk-\x03more", "", false, true, 4},
	}
	for _, tt := range tests {
		var h hiddenLine
		used := h.feed([]byte(tt.in))
		if !h.done {
			t.Errorf("%s: line not done", tt.name)
			continue
		}
		if tt.intr != h.interrupted {
			t.Errorf("%s: interrupted = %v", tt.name, h.interrupted)
		}
		if !tt.intr && string(h.value()) != tt.want {
			t.Errorf("%s: value %q, want %q", tt.name, h.value(), tt.want)
		}
		if h.pasted != tt.pasted {
			t.Errorf("%s: pasted = %v", tt.name, h.pasted)
		}
		if got := len(tt.in) - used; got != tt.rest {
			t.Errorf("%s: %d bytes left, want %d", tt.name, got, tt.rest)
		}
	}
	var h hiddenLine
	h.feed([]byte("\x04"))
	if !h.eof {
		t.Error("ctrl-d on an empty line is not the end of input")
	}
	if hasText([]byte("\n\r\x04 ")) || !hasText([]byte("\nrm")) {
		t.Error("hasText misjudges")
	}
}
