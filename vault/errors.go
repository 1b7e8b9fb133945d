package vault

import (
	"errors"
	"fmt"
)

// Sentinel errors the CLI maps to hints and exit codes.
var (
	// ErrNotInitialized: no config.toml in the vault folder.
	ErrNotInitialized = errors.New("no vault here")
	// ErrAlreadyInitialized: okv init on an existing vault.
	ErrAlreadyInitialized = errors.New("a vault already exists")
	// ErrKeychainUnavailable: no OS keychain answered (no D-Bus session,
	// no Secret Service, headless SSH, container).
	ErrKeychainUnavailable = errors.New("no keychain is reachable")
	// ErrKeychainLocked: the keychain is locked and could not be unlocked.
	ErrKeychainLocked = errors.New("the keychain is locked")
	// ErrKeychainTimeout: the keychain did not answer in time, typically
	// because it waits on an unlock prompt nobody can see.
	ErrKeychainTimeout = errors.New("the keychain did not answer in time")
	// ErrKeychainItemMissing: the vault's identity is not in the keychain.
	ErrKeychainItemMissing = errors.New("the vault's identity is missing from the keychain")
	// ErrWrongPassphrase: the passphrase does not decrypt identity.age.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrNoTerminal: a prompt was needed but there is no terminal.
	ErrNoTerminal = errors.New("no terminal to prompt on")
	// ErrLockTimeout: another okv holds the vault lock for too long.
	ErrLockTimeout = errors.New("the vault is locked by another okv process")
)

// NotEmptyError: okv init into a folder that already holds other files.
type NotEmptyError struct{ Dir string }

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("%s already exists and is not empty; okv creates its vault in a folder of its own", e.Dir)
}

// ProfileNotFoundError: a profile that does not exist. okv never creates a
// profile implicitly: a typo must not make a new one.
type ProfileNotFoundError struct {
	Name   string
	Source string // what selected it, when not -p/--profile (for a hint)
}

func (e *ProfileNotFoundError) Error() string {
	return fmt.Sprintf("profile %q does not exist", e.Name)
}

// ProfileExistsError: create/rename/copy onto an existing profile.
type ProfileExistsError struct{ Name string }

func (e *ProfileExistsError) Error() string {
	return fmt.Sprintf("profile %q already exists", e.Name)
}

// SecretNotFoundError: a secret name absent from a profile.
type SecretNotFoundError struct{ Profile, Name string }

func (e *SecretNotFoundError) Error() string {
	return fmt.Sprintf("profile %q has no secret %s", e.Profile, e.Name)
}

// TamperedError: a profile file that fails authentication: damaged,
// truncated or edited.
type TamperedError struct {
	Profile string
	Err     error
}

func (e *TamperedError) Error() string {
	return fmt.Sprintf("profile %q cannot be decrypted: the file is damaged or was tampered with (%v)", e.Profile, e.Err)
}
func (e *TamperedError) Unwrap() error { return e.Err }

// NoMatchError: none of our identities can open the file; Recipients lists
// whom it was encrypted to (the public keys config.toml lists, else the
// stanza types in its header), so the user knows whom to ask. Project: the
// file is in a project vault, opened with the user's own identity.
//
// Mismatch: the file's header does not match config.toml's recipients (it
// was re-encrypted outside okv, or config.toml was edited), so Recipients
// only has the header's stanza types.
type NoMatchError struct {
	Profile    string
	Recipients []string
	Project    bool
	Mismatch   bool
}

func (e *NoMatchError) Error() string {
	if e.Project {
		return fmt.Sprintf("profile %q is not encrypted to your identity", e.Profile)
	}
	return fmt.Sprintf("profile %q is not encrypted to this vault's identity", e.Profile)
}

// ConflictError: a profile file, or config.toml (Profile empty), with git
// merge conflict markers.
type ConflictError struct{ Profile, Path string }

func (e *ConflictError) Error() string {
	if e.Profile == "" {
		return fmt.Sprintf("%s has unresolved git merge conflict markers", e.Path)
	}
	return fmt.Sprintf("profile %q has unresolved git merge conflict markers", e.Profile)
}

// KeychainError wraps a keychain failure with the category (one of the
// ErrKeychain* sentinels) and the raw cause for --debug style detail.
type KeychainError struct {
	Kind error
	Op   string
	Raw  error
}

func (e *KeychainError) Error() string {
	if e.Raw != nil && e.Kind != ErrKeychainItemMissing {
		return fmt.Sprintf("%v (%s: %v)", e.Kind, e.Op, e.Raw)
	}
	return e.Kind.Error()
}
func (e *KeychainError) Unwrap() error { return e.Kind }
