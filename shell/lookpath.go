package shell

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// lookPathEnv is exec.LookPath against the PATH in env (the child's, which
// --env may have changed) instead of okv's own. A file found on PATH but
// not executable is reported as a permission error (126), as bash does.
func lookPathEnv(name string, env []string) (string, error) {
	if strings.ContainsRune(name, '/') || strings.ContainsRune(name, os.PathSeparator) {
		return exec.LookPath(name)
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p, err := exec.LookPath(filepath.Join(dir, name))
		if err == nil {
			if !filepath.IsAbs(p) {
				if abs, err := filepath.Abs(p); err == nil {
					p = abs
				}
			}
			return p, nil
		}
		if errors.Is(err, fs.ErrPermission) && denied == nil {
			if fi, serr := os.Stat(filepath.Join(dir, name)); serr == nil && !fi.IsDir() {
				denied = err
			}
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
