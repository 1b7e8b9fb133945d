package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// Prompter reads a passphrase from the user's terminal with echo off. It
// returns ErrNoTerminal when there is none.
type Prompter interface {
	Passphrase(prompt string) ([]byte, error)
}

// Unlocker produces the age identities that open the vault's profiles.
// Which source is used: IdentityFile when set (OKV_IDENTITY_FILE or
// --identity), else the vault's backend (keychain or passphrase).
type Unlocker struct {
	Keychain     Keychain
	Prompter     Prompter
	IdentityFile string

	cached []age.Identity
}

// Identities returns the identities for v, asking the backend once.
func (u *Unlocker) Identities(v *Vault) ([]age.Identity, error) {
	if u.cached != nil {
		return u.cached, nil
	}
	var ids []age.Identity
	var err error
	switch {
	case u.IdentityFile != "":
		ids, err = ReadIdentityFile(u.IdentityFile)
	case v.Config.Backend == BackendKeychain:
		ids, err = u.keychainIdentity(v)
	case v.Config.Backend == BackendPassphrase:
		ids, err = u.passphraseIdentity(v)
	case v.Config.Backend == BackendFile:
		return nil, ErrIdentityFileNeeded
	default:
		return nil, fmt.Errorf("unknown backend %q", v.Config.Backend)
	}
	if err != nil {
		return nil, err
	}
	u.cached = ids
	return ids, nil
}

// ErrIdentityFileNeeded: the vault's backend is "file" and no identity file
// was given.
var ErrIdentityFileNeeded = errors.New("this vault is unlocked by an identity file, and none was given")

func (u *Unlocker) keychainIdentity(v *Vault) ([]age.Identity, error) {
	s, err := u.Keychain.Get(KeychainService, v.Config.VaultID)
	if err != nil {
		return nil, err
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("the keychain item for vault %s does not hold an age identity", v.Config.VaultID)
	}
	return []age.Identity{id}, nil
}

func (u *Unlocker) passphraseIdentity(v *Vault) ([]age.Identity, error) {
	data, err := os.ReadFile(filepath.Join(v.Dir, identityFile))
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase-protected identity: %w", err)
	}
	if u.Prompter == nil {
		return nil, ErrNoTerminal
	}
	pass, err := u.Prompter.Passphrase("Enter the okv vault passphrase: ")
	if err != nil {
		return nil, err
	}
	return decryptIdentity(data, pass)
}

func decryptIdentity(data, pass []byte) ([]age.Identity, error) {
	sid, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, err
	}
	plain, err := Decrypt(data, identityFile, sid)
	if err != nil {
		var te *TamperedError
		var nm *NoMatchError
		if errors.As(err, &te) && strings.Contains(te.Err.Error(), "incorrect passphrase") || errors.As(err, &nm) {
			return nil, ErrWrongPassphrase
		}
		return nil, err
	}
	ids, err := age.ParseIdentities(bytes.NewReader(plain))
	if err != nil {
		return nil, fmt.Errorf("%s does not hold an age identity", identityFile)
	}
	return ids, nil
}

// IdentityFileError: an identity file that cannot be read or parsed.
type IdentityFileError struct {
	Path string
	Err  error
}

func (e *IdentityFileError) Error() string {
	return fmt.Sprintf("identity file %s: %v", e.Path, e.Err)
}
func (e *IdentityFileError) Unwrap() error { return e.Err }

// ReadIdentityFile reads age identities (AGE-SECRET-KEY-1…, one per line,
// # comments) or an unencrypted OpenSSH private key.
func ReadIdentityFile(path string) ([]age.Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &IdentityFileError{Path: path, Err: err}
	}
	if bytes.Contains(data, []byte("-----BEGIN")) && bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, &IdentityFileError{Path: path, Err: errors.New("not a usable SSH private key (passphrase-protected keys are not supported)")}
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, &IdentityFileError{Path: path, Err: errors.New("no age identity found (want lines starting with AGE-SECRET-KEY-1)")}
	}
	return ids, nil
}

// RecipientOf returns the public recipient string of an identity okv can
// encrypt to, or "" when it has none (plugin identities).
func RecipientOf(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return id.Recipient().String()
	}
	return ""
}
