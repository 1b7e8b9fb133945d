package vault

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// UnprotectedIdentityError: an identity file holding a private key that
// group or others can access. Like ssh ("UNPROTECTED PRIVATE KEY FILE"),
// okv refuses it rather than warn: a warning scrolls by in CI logs, and the
// key may be copied by then; the fix is one chmod.
type UnprotectedIdentityError struct {
	Path string
	Mode fs.FileMode
}

func (e *UnprotectedIdentityError) Error() string {
	return fmt.Sprintf("identity file %s has permissions %04o: a private key must not be accessible by group or others", e.Path, e.Mode.Perm())
}

// Fix is the command that makes the file usable.
func (e *UnprotectedIdentityError) Fix() string { return "chmod 600 " + shellQuote(e.Path) }

// readIdentityData reads an identity file, refusing one that holds private
// key material (age or SSH secret keys) and that group or others can
// access. The mode is taken from the opened file, so it is the mode of what
// is read. Pipes and devices (--identity <(…), /dev/stdin) are not checked:
// they are not files others can open later. Files with plugin identities
// only (AGE-PLUGIN-…) are not secret: they name a key held by hardware.
func readIdentityData(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &IdentityFileError{Path: path, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, &IdentityFileError{Path: path, Err: err}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, &IdentityFileError{Path: path, Err: err}
	}
	if runtime.GOOS != "windows" && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 && holdsPrivateKey(data) {
		return nil, &UnprotectedIdentityError{Path: path, Mode: fi.Mode()}
	}
	return data, nil
}

// holdsPrivateKey reports whether an identity file holds a secret key
// itself (as opposed to plugin identities, which only name one).
func holdsPrivateKey(data []byte) bool {
	u := bytes.ToUpper(data)
	return bytes.Contains(u, []byte("AGE-SECRET-KEY-")) || bytes.Contains(u, []byte("PRIVATE KEY"))
}
