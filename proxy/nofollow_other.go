//go:build !unix

package proxy

// oNoFollow: Windows has no O_NOFOLLOW; openLedger checks with Lstat
// before opening instead.
import "os"

const oNoFollow = 0

// linkCount is how many names the file has: 1 where the system does not
// say (Windows).
func linkCount(os.FileInfo) uint64 { return 1 }
