package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ProfileFileName is the per-folder profile pin written by okv use --here.
const ProfileFileName = ".okv-profile"

// Resolution says which profile applies and why.
type Resolution struct {
	Name   string
	Source string // "--profile", "OKV_PROFILE", the .okv-profile path, or "default_profile"
}

// ResolveProfile picks the profile: the flag, then OKV_PROFILE, then a
// .okv-profile file in cwd or the nearest parent, then the config's
// default. The result is validated but not checked for existence.
func ResolveProfile(flag string, getenv func(string) string, cwd string, cfg *Config) (Resolution, error) {
	var r Resolution
	switch {
	case flag != "":
		r = Resolution{flag, "--profile"}
	case getenv("OKV_PROFILE") != "":
		r = Resolution{getenv("OKV_PROFILE"), "OKV_PROFILE"}
	default:
		name, path, err := findProfileFile(cwd)
		if err != nil {
			return r, err
		}
		if path != "" {
			r = Resolution{name, path}
		} else if cfg != nil && cfg.DefaultProfile != "" {
			r = Resolution{cfg.DefaultProfile, "default_profile"}
		} else {
			return r, errors.New("no profile selected and no default profile set")
		}
	}
	if err := ValidateProfileName(r.Name); err != nil {
		return r, fmt.Errorf("%w (from %s)", err, r.Source)
	}
	return r, nil
}

func findProfileFile(dir string) (name, path string, err error) {
	if dir == "" {
		return "", "", nil
	}
	for {
		p := filepath.Join(dir, ProfileFileName)
		data, fi, err := readPin(p)
		if errors.Is(err, fs.ErrPermission) {
			fi, _ = os.Lstat(p) // unreadable: still refused when foreign
		}
		if fi != nil && ownedByOther(fi) {
			// Like a foreign .okv/: a pin planted by another user (in
			// /tmp, a shared folder) must not choose the profile.
			return "", "", fmt.Errorf("%s belongs to another user; okv will not follow it (remove it, or choose the profile with -p/--profile)", p)
		}
		if err == nil {
			line, _, _ := strings.Cut(string(data), "\n")
			return strings.TrimSpace(line), p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return "", "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", nil
		}
		dir = parent
	}
}

// WriteProfilePin writes .okv-profile in dir (okv use --here).
func WriteProfilePin(dir, name string) error {
	if err := ValidateProfileName(name); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, ProfileFileName), []byte(name+"\n"))
}

// readPin reads a .okv-profile without following a link: a pin is a
// small file of its folder, never another file's content. fi is the
// opened file's, for the owner check.
func readPin(path string) ([]byte, fs.FileInfo, error) {
	f, err := openVaultFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	return data, fi, err
}

// FindProfilePin returns the .okv-profile that applies in dir (there or in
// the nearest parent) and the profile it names, or "" for both.
func FindProfilePin(dir string) (name, path string, err error) {
	return findProfileFile(dir)
}
