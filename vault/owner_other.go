//go:build !unix

package vault

import "io/fs"

// ownedByOther: Windows has no uid; its ACLs are the user profile's.
func ownedByOther(fs.FileInfo) bool { return false }

func inOwnGroup(fi fs.FileInfo) bool { return false }
