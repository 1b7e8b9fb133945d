//go:build !windows

package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func openTTY() (io.ReadWriteCloser, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }

// drainQuiet is how long the terminal must stay silent after a value for
// okv to decide nothing else was pasted with it (termios VTIME, in tenths
// of a second). A paste arrives in bursts milliseconds apart; a person does
// not type the next line within a tenth of a second of Enter.
const drainQuiet = 1

// drainLimit bounds what is drained, should something stream into the
// terminal without end.
const drainLimit = 8 << 20

// readNoEcho reads a line from the terminal with echo off. Echo is turned
// off *before* the prompt is shown, so text typed or pasted the instant it
// appears is not echoed. The terminal is put in non-canonical mode and
// okv edits the line itself, so that
//   - a bracketed paste (asked for when bracketed is true) is read whole,
//     newlines included;
//   - after the line, everything else pending on the terminal is read too
//     (until it has been quiet for drainQuiet): the lines of a paste the
//     terminal did not bracket are consumed here, and extra reports them,
//     instead of being left for the shell to run once okv exits (input
//     without text, like a second Enter or a Ctrl-D, is consumed but not
//     reported);
//   - Ctrl-C restores the terminal before okv dies of SIGINT.
func readNoEcho(tty io.ReadWriter, prompt string, bracketed bool) (value []byte, extra bool, err error) {
	f, ok := tty.(*os.File)
	if !ok {
		fmt.Fprint(tty, prompt)
		b, err := readLine(tty)
		return b, false, err
	}
	fd := int(f.Fd()) // also puts f in blocking mode, which VMIN/VTIME need
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		fmt.Fprint(tty, prompt)
		b, err := readLine(tty)
		return b, false, err
	}
	raw := *old
	raw.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Iflag |= unix.ICRNL
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &raw); err != nil {
		return nil, false, err
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if bracketed {
				io.WriteString(tty, bracketedPasteOff)
			}
			unix.IoctlSetTermios(fd, ioctlSetTermios, old)
		}
	}
	defer restore()
	if bracketed {
		prompt += bracketedPasteOn // in one write: a prompt is one event
	}
	io.WriteString(tty, prompt)

	var h hiddenLine
	buf := make([]byte, 4096)
	defer clear(buf)
	for !h.done {
		n, err := f.Read(buf)
		if used := h.feed(buf[:n]); hasText(buf[used:n]) {
			extra = true
		}
		if errors.Is(err, io.EOF) && !h.done {
			h.eof, h.done = true, true
		} else if err != nil && !errors.Is(err, io.EOF) {
			clear(h.buf)
			return nil, false, err
		}
	}
	if h.interrupted {
		clear(h.buf)
		drain(f, fd, raw)
		restore()
		interruptSelf()
		return nil, false, errInterrupted
	}
	extra = drain(f, fd, raw) || extra
	if h.eof && len(h.buf) == 0 {
		return nil, extra, io.ErrUnexpectedEOF
	}
	return h.value(), extra, nil
}

// interruptSelf makes Ctrl-C at a prompt end okv as it would have in the
// terminal's canonical mode: killed by SIGINT, so a calling shell loop
// stops too. The signal is delivered asynchronously, hence the wait; where
// SIGINT is ignored (started by nohup) okv goes on to exit with 130.
func interruptSelf() {
	signal.Reset(os.Interrupt)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	time.Sleep(time.Second)
}

// drain reads what is still pending on the terminal until it has been
// quiet for drainQuiet, in mode (non-canonical, so that partial lines are
// read too), and reports whether it held text.
func drain(f *os.File, fd int, mode unix.Termios) (text bool) {
	mode.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	mode.Cc[unix.VMIN], mode.Cc[unix.VTIME] = 0, drainQuiet
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &mode); err != nil {
		return false
	}
	buf := make([]byte, 4096)
	defer clear(buf)
	for total := 0; total < drainLimit; {
		n, _ := f.Read(buf)
		if n == 0 {
			break
		}
		text = text || hasText(buf[:n])
		total += n
	}
	return text
}

// drainAfterLine is drain for a line read in the terminal's own line mode
// (a y/N answer): it reads what followed the line, then restores the mode.
func drainAfterLine(tty io.ReadWriter) bool {
	f, ok := tty.(*os.File)
	if !ok {
		return false
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return false
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old)
	return drain(f, fd, *old)
}
