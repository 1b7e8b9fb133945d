//go:build !unix

package proxy

// oNoFollow: Windows has no O_NOFOLLOW; openLedger checks with Lstat
// before opening instead.
const oNoFollow = 0
