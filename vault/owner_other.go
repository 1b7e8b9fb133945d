//go:build !unix

package vault

import "io/fs"

// ownedByOther: Windows has no uid; its ACLs are the user profile's.
func ownedByOther(fs.FileInfo) bool { return false }

func inOwnGroup(fi fs.FileInfo) bool { return false }

// linkCount: os.Stat on Windows does not report the link count.
func linkCount(fs.FileInfo) uint64 { return 1 }
