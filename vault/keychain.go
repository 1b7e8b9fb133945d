package vault

import (
	"errors"
	"strings"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/okvault/okv/internal/prestack"
)

// KeychainService is the service name okv's items carry in the OS keychain.
const KeychainService = "okv"

// DefaultKeychainTimeout bounds every keychain call: a Secret Service
// unlock prompt that nobody can see would otherwise wait forever.
const DefaultKeychainTimeout = 10 * time.Second

// Keychain stores one secret string per (service, user). OSKeychain is the
// real one; tests that cannot reach an OS keychain (macOS, Windows) use a
// map behind this interface.
type Keychain interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// OSKeychain is the platform keychain through go-keyring (macOS Keychain,
// Windows Credential Manager, Secret Service over D-Bus), with a timeout
// on every call and go-keyring's raw errors sorted into the ErrKeychain*
// kinds.
type OSKeychain struct {
	Timeout time.Duration
}

func (k OSKeychain) Get(service, user string) (string, error) {
	var out string
	err := k.call("read", func() (err error) {
		out, err = keyring.Get(service, user)
		return err
	})
	return out, err
}

func (k OSKeychain) Set(service, user, secret string) error {
	return k.call("store", func() error { return keyring.Set(service, user, secret) })
}

func (k OSKeychain) Delete(service, user string) error {
	return k.call("delete", func() error { return keyring.Delete(service, user) })
}

func (k OSKeychain) call(op string, f func() error) error {
	if err := keychainPrecheck(); err != nil {
		return &KeychainError{Kind: ErrKeychainUnavailable, Op: op, Raw: err}
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultKeychainTimeout
	}
	done := make(chan error, 1)
	go func() {
		// go-keyring, D-Bus and reflection run deep: one stack growth
		// here instead of several copies of a deep stack (issue 21).
		prestack.Grow()
		done <- f()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return &KeychainError{Kind: classifyKeychainError(err), Op: op, Raw: err}
	case <-timer.C:
		// The goroutine stays blocked on D-Bus; okv exits soon after.
		return &KeychainError{Kind: ErrKeychainTimeout, Op: op, Raw: errors.New("no answer after " + timeout.String())}
	}
}

// classifyKeychainError turns go-keyring's and godbus's raw errors into a
// kind the user can act on. The raw texts are not part of any API, so this
// matches the phrases they have used across versions.
func classifyKeychainError(err error) error {
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrKeychainItemMissing
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "failed to unlock"),
		strings.Contains(msg, "is locked"),
		strings.Contains(msg, "prompt"),
		strings.Contains(msg, "dismissed"),
		strings.Contains(msg, "user interaction is not allowed"), // macOS errSecInteractionNotAllowed
		strings.Contains(msg, "user canceled"):
		return ErrKeychainLocked
	case strings.Contains(msg, "dbus"),
		strings.Contains(msg, "d-bus"),
		strings.Contains(msg, "org.freedesktop.secrets"),
		strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "connection refused"),
		strings.Contains(msg, "not provided by any .service files"),
		strings.Contains(msg, "serviceunknown"),
		strings.Contains(msg, "no such object"),
		strings.Contains(msg, "unknownmethod"),
		strings.Contains(msg, "x11"),
		strings.Contains(msg, "not supported"),
		strings.Contains(msg, "unsupported"):
		return ErrKeychainUnavailable
	}
	return ErrKeychainUnavailable
}

// MapKeychain is an in-memory Keychain for platforms whose keychain cannot
// run in tests here (macOS, Windows) and for unit tests of callers. The
// Linux tests use a real Secret Service instead.
type MapKeychain map[string]string

func (m MapKeychain) Get(service, user string) (string, error) {
	v, ok := m[service+"\x00"+user]
	if !ok {
		return "", &KeychainError{Kind: ErrKeychainItemMissing, Op: "read"}
	}
	return v, nil
}

func (m MapKeychain) Set(service, user, secret string) error {
	m[service+"\x00"+user] = secret
	return nil
}

func (m MapKeychain) Delete(service, user string) error {
	delete(m, service+"\x00"+user)
	return nil
}
