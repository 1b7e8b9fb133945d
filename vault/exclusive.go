package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFileExclusive writes data to a new file at path, 0600, and refuses
// to replace an existing one (fs.ErrExist). Like WriteFileAtomic it writes
// a temporary file in the same folder first and fsyncs it, then moves it
// into place with a move that fails when path exists (renameat2
// RENAME_NOREPLACE, else a hard link), so that path holds the whole
// content or nothing. On a file system that has neither (some FUSE
// mounts), it falls back to creating path with O_EXCL, which still never
// replaces a file but can leave a partial one if the machine dies.
func WriteFileExclusive(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return &fs.PathError{Op: "write", Path: path, Err: fs.ErrExist}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = writeSynced(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	err = renameNoReplace(tmp, path)
	if errors.Is(err, errors.ErrUnsupported) {
		err = os.Link(tmp, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return writeExcl(path, data)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return &fs.PathError{Op: "write", Path: path, Err: fs.ErrExist}
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

func writeSynced(f *os.File, data []byte) error {
	if err := f.Chmod(filePerm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

func writeExcl(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	err = writeSynced(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	return syncDir(filepath.Dir(path))
}
