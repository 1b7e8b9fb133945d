package scan

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// AllowlistFile is the name of the file listing fingerprints to ignore.
const AllowlistFile = ".okvignore"

// loadAllowlist adds the fingerprints listed in path to set. A missing file
// is an empty list.
func loadAllowlist(path string, set map[string]bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read allowlist: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			set[line] = true
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("cannot read allowlist %s: %w", path, err)
	}
	return nil
}
