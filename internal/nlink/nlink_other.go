//go:build !unix

package nlink

import "io/fs"

// Of is 1: os.Stat on Windows does not report the link count.
func Of(fs.FileInfo) uint64 { return 1 }
