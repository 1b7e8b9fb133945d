//go:build unix

package vault_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// ageDecryptPassphrase runs `age -d FILE` on a pseudo-terminal (age reads
// passphrases from the terminal only) and types pass at its prompt.
func ageDecryptPassphrase(t *testing.T, agePath, file, pass string) []byte {
	t.Helper()
	var stdout bytes.Buffer
	cmd := exec.Command(agePath, "-d", file)
	cmd.Stdout = &stdout
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("starting age on a pty: %v", err)
	}
	defer tty.Close()
	var screen strings.Builder
	r := bufio.NewReader(tty)
	typed := false
	for {
		b, err := r.ReadByte()
		if err != nil { // EIO once age exits and the tty closes
			break
		}
		screen.WriteByte(b)
		if !typed && strings.Contains(strings.ToLower(screen.String()), "passphrase") && b == ':' {
			tty.WriteString(pass + "\n")
			typed = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("age -d %s: %v; terminal showed %q", file, err, screen.String())
	}
	if !typed {
		t.Fatalf("age -d %s never asked for a passphrase; terminal showed %q", file, screen.String())
	}
	return stdout.Bytes()
}
