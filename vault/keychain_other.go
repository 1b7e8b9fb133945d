//go:build !(linux || freebsd || openbsd || netbsd || dragonfly)

package vault

// keychainPrecheck: macOS Keychain and Windows Credential Manager are
// always present; go-keyring reports their errors itself.
func keychainPrecheck() error { return nil }
