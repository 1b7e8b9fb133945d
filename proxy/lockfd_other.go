//go:build !unix

package proxy

// newFileLock is gofrs/flock elsewhere.
func newFileLock(path string) (ledgerLocker, error) { return newLedgerLock(path) }
