package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
)

// Encrypt encrypts plaintext to recipients as an ASCII-armored age file, so
// that a vault can live in git with readable diffs and the plain age
// command can decrypt it.
func Encrypt(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recipients...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Decrypt opens an age file, armored or binary, with identities. profile
// names the file in errors. A file that fails authentication is a
// *TamperedError; one that none of identities opens is a *NoMatchError; a
// file with git conflict markers is a *ConflictError.
func Decrypt(data []byte, profile string, identities ...age.Identity) ([]byte, error) {
	if hasConflictMarkers(data) {
		return nil, &ConflictError{Profile: profile}
	}
	var in io.Reader = bytes.NewReader(data)
	if looksArmored(data) {
		in = armor.NewReader(in)
	}
	r, err := age.Decrypt(in, identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, &NoMatchError{Profile: profile, Recipients: stanzaTypes(data)}
		}
		var pnf *plugin.NotFoundError
		if errors.As(err, &pnf) {
			// A plugin identity whose plugin is not installed: nothing is
			// wrong with the file.
			return nil, fmt.Errorf("profile %q: %w", profile, err)
		}
		return nil, &TamperedError{Profile: profile, Err: err}
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, &TamperedError{Profile: profile, Err: err}
	}
	return out, nil
}

func looksArmored(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
}

func hasConflictMarkers(data []byte) bool {
	for _, m := range []string{"<<<<<<< ", "=======\n", ">>>>>>> "} {
		if bytes.HasPrefix(data, []byte(m)) || bytes.Contains(data, []byte("\n"+m)) {
			return true
		}
	}
	return false
}

// stanzaTypes lists the recipient stanza types in an age header, to tell a
// user what a file they cannot open was encrypted to. It never fails: an
// unreadable header yields nothing.
func stanzaTypes(data []byte) []string {
	var in io.Reader = bytes.NewReader(data)
	if looksArmored(data) {
		in = armor.NewReader(in)
	}
	hdr, err := age.ExtractHeader(in)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(hdr), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "ssh-ed25519", "ssh-rsa":
				if len(f) > 1 {
					out = append(out, fmt.Sprintf("%s key with fingerprint tag %s", f[0], f[1]))
					continue
				}
			}
			out = append(out, f[0])
		}
	}
	return out
}
