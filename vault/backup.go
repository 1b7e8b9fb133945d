package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// A backup of the keychain identity: the age identity file age-keygen
// would write, encrypted with age's scrypt (passphrase) recipient and
// ASCII-armored, so that it can be printed or kept on a USB stick, and so
// that the plain age command opens it: `age -d FILE` asks for the
// passphrase and gives a file usable as OKV_IDENTITY_FILE.

// ExportIdentity returns the passphrase-encrypted backup of id.
func ExportIdentity(id *age.X25519Identity, passphrase []byte, vaultID string, now time.Time) ([]byte, error) {
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, err
	}
	plain := fmt.Sprintf("# okv identity of vault %s, exported %s\n# restore it with: okv init --import-identity FILE\n# public key: %s\n%s\n",
		vaultID, now.UTC().Format(time.RFC3339), id.Recipient(), id)
	return Encrypt([]byte(plain), r)
}

// BackupFileError: a file given to --import-identity that is not an
// identity backup.
type BackupFileError struct {
	Path   string
	Reason string
}

func (e *BackupFileError) Error() string {
	return fmt.Sprintf("%s is not an okv identity backup: %s", e.Path, e.Reason)
}

// ImportIdentity opens a backup made by ExportIdentity (or any age file
// encrypted with a passphrase holding an X25519 identity, as `age -p`
// makes from age-keygen's output). A wrong passphrase is
// ErrWrongPassphrase.
func ImportIdentity(path string, data, passphrase []byte) (*age.X25519Identity, error) {
	sid, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, err
	}
	var in io.Reader = bytes.NewReader(data)
	if looksArmored(data) {
		in = armor.NewReader(in)
	}
	r, err := age.Decrypt(in, sid)
	switch {
	case err != nil && strings.Contains(err.Error(), "incorrect passphrase"):
		return nil, ErrWrongPassphrase
	case err != nil && strings.Contains(err.Error(), "not passphrase-encrypted"):
		return nil, &BackupFileError{Path: path, Reason: "it is an age file, but not encrypted with a passphrase"}
	case err != nil:
		return nil, &BackupFileError{Path: path, Reason: "not a readable age file"}
	}
	plain, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, &BackupFileError{Path: path, Reason: "the file is damaged"}
	}
	defer clear(plain)
	ids, err := age.ParseIdentities(bytes.NewReader(plain))
	if err != nil {
		return nil, &BackupFileError{Path: path, Reason: "it does not hold an age identity"}
	}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			return x, nil
		}
	}
	return nil, &BackupFileError{Path: path, Reason: "it holds no X25519 age identity (AGE-SECRET-KEY-1…)"}
}

// IdentityMismatchError: restoring an identity that is not the vault's.
type IdentityMismatchError struct{ VaultID, Recipient, Want string }

func (e *IdentityMismatchError) Error() string {
	return fmt.Sprintf("this backup holds the identity %s, but vault %s is encrypted to %s", ShortRecipient(e.Recipient), e.VaultID, ShortRecipient(e.Want))
}

// ErrKeychainHoldsOther: the keychain already holds a different identity
// for the vault; okv never overwrites one.
var ErrKeychainHoldsOther = errors.New("the keychain already holds a different identity for this vault")

// RestoreKeychainIdentity puts id back into the keychain as v's identity,
// after checking that it is v's (its recipient is the vault's). It reports
// whether the keychain held it already; it never replaces another one.
func (v *Vault) RestoreKeychainIdentity(k Keychain, id *age.X25519Identity) (already bool, err error) {
	if v.Config.IsProject() || v.Config.Backend != BackendKeychain {
		return false, fmt.Errorf("vault %s keeps its identity in its %s backend, not in the keychain", v.Config.VaultID, v.Config.Backend)
	}
	if got := id.Recipient().String(); got != v.Config.Recipient {
		return false, &IdentityMismatchError{VaultID: v.Config.VaultID, Recipient: got, Want: v.Config.Recipient}
	}
	cur, err := k.Get(KeychainService, v.Config.VaultID)
	switch {
	case err == nil && strings.TrimSpace(cur) == id.String():
		return true, nil
	case err == nil:
		return false, ErrKeychainHoldsOther
	case !errors.Is(err, ErrKeychainItemMissing):
		return false, err
	}
	return false, k.Set(KeychainService, v.Config.VaultID, id.String())
}

// identityExportedKey is state.json's record of the last identity export.
const identityExportedKey = "identity_exported"

type identityExport struct {
	At        time.Time `json:"at"`
	Recipient string    `json:"recipient"`
}

// IdentityExportedAt says when the vault's current identity was last
// exported (okv identity export), if ever. A record for another identity
// does not count.
func (v *Vault) IdentityExportedAt() (time.Time, bool) {
	var e identityExport
	if raw, ok := v.stateSnapshot()[identityExportedKey]; ok && json.Unmarshal(raw, &e) == nil && e.Recipient == v.Config.Recipient && !e.At.IsZero() {
		return e.At, true
	}
	return time.Time{}, false
}

// MarkIdentityExported records that the vault's identity was exported at
// t, in state.json (atomically, under the lock).
func (v *Vault) MarkIdentityExported(t time.Time) error {
	_, err := v.updateState(WriteFileAtomic, func(st map[string]json.RawMessage) (bool, error) {
		return true, setState(st, identityExportedKey, identityExport{At: t.UTC(), Recipient: v.Config.Recipient})
	})
	return err
}
