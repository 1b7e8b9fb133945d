//go:build !unix

package vault_test

import "testing"

func ageDecryptPassphrase(t *testing.T, agePath, file, pass string) []byte {
	t.Skip("driving age's passphrase prompt needs a Unix pty")
	return nil
}
