//go:build !unix

package vault

// oNoFollow: Windows has no O_NOFOLLOW; openVaultFile checks with Lstat
// before opening instead.
const oNoFollow = 0
