//go:build !linux

package vault

import "errors"

// renameNoReplace: only Linux has renameat2; elsewhere the caller links.
func renameNoReplace(old, new string) error { return errors.ErrUnsupported }
