// Package manpages renders okv's man pages from its cobra command tree
// (cobra/doc), one per command, and keeps the committed ones in man/ in
// step. It lives outside cmd/ so that the okv binary does not link the
// markdown and roff renderers it never uses.
package manpages

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/okvault/okv/cmd"
)

// ManPage is one generated man page: okv.1, okv-run.1, okv-profile-create.1 …
type ManPage struct {
	Name string // file name, e.g. okv-run.1
	Body []byte // roff
}

// manDateLayout is how cobra/doc writes the date in a page's .TH line.
const manDateLayout = "Jan 2006"

// thDate finds the date in a page's .TH line.
var thDate = regexp.MustCompile(`(?m)^\.TH "[^"]*" "1" "([A-Z][a-z]{2} [0-9]{4})"`)

// ManPageDate returns the date in a page's header.
func ManPageDate(page []byte) (time.Time, bool) {
	m := thDate.FindSubmatch(page)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(manDateLayout, string(m[1]))
	return t, err == nil
}

// ManPages renders one page per available command, from the same command
// tree the binary runs, dated date (month precision, as man pages are).
// Nothing version-specific goes in, so the committed pages stay valid
// across releases until a command or flag changes.
func ManPages(date time.Time) ([]ManPage, error) {
	root := cmd.CommandTree()
	var pages []ManPage
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c != root && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return nil
		}
		c.DisableAutoGenTag = true // no "generated on <date>" line
		// cobra/doc reads Long as markdown, where <profile> is an HTML tag
		// and vanishes from the page.
		c.Long = strings.ReplaceAll(c.Long, "<", `\<`)
		var buf bytes.Buffer
		d := date
		h := &doc.GenManHeader{Title: strings.ToUpper(strings.ReplaceAll(c.CommandPath(), " ", "-")), Section: "1", Date: &d, Source: "okv", Manual: "okv manual"}
		if err := doc.GenMan(c, h, &buf); err != nil {
			return fmt.Errorf("man page for %q: %w", c.CommandPath(), err)
		}
		pages = append(pages, ManPage{Name: strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1", Body: buf.Bytes()})
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].Name < pages[j].Name })
	return pages, nil
}

// WriteManPages brings dir's pages in step with the command tree. A page
// whose text is unchanged keeps its file and its date; a new or changed
// page is dated now; a page of a command that no longer exists is removed.
func WriteManPages(dir string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	current, err := ManPages(now)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	r := renderer{}
	for _, p := range current {
		keep[p.Name] = true
		path := filepath.Join(dir, p.Name)
		if old, err := os.ReadFile(path); err == nil {
			if d, ok := ManPageDate(old); ok {
				same, err := r.page(p.Name, d)
				if err != nil {
					return err
				}
				if bytes.Equal(same, old) {
					continue
				}
			}
		}
		if err := os.WriteFile(path, p.Body, 0o644); err != nil {
			return err
		}
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if !keep[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// renderer renders the pages once per date and keeps them.
type renderer map[time.Time]map[string][]byte

// page renders the page called name, dated date.
func (r renderer) page(name string, date time.Time) ([]byte, error) {
	if r[date] == nil {
		pages, err := ManPages(date)
		if err != nil {
			return nil, err
		}
		r[date] = map[string][]byte{}
		for _, p := range pages {
			r[date][p.Name] = p.Body
		}
	}
	b, ok := r[date][name]
	if !ok {
		return nil, fmt.Errorf("no man page %s", name)
	}
	return b, nil
}

// GzipManPages writes a gzipped copy of every page in src to dst
// (okv-run.1 → okv-run.1.gz), as Debian and RPM packages install them,
// and removes any other *.1.gz there (a page of a removed command must not
// be packaged). The gzip header carries no name or time, so the same page
// always gives the same bytes.
func GzipManPages(src, dst string) error {
	files, err := filepath.Glob(filepath.Join(src, "*.1"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no man pages in %s", src)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dst, "*.1.gz"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := zw.Write(b); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)+".gz"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
