package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// journalFile records a change that spans several files (config.toml and
// profiles) before any of them is written: a profile rename, copy or
// removal, a recipient change, a policy change. Each file is written
// atomically; the journal makes the set of them atomic too. A process
// killed half-way leaves the journal, and the next okv that takes the lock
// writes every file it lists again (they are complete contents, so this
// needs no identity) and removes it: the change completes. A process
// killed before the journal was in place left nothing to undo.
const journalFile = ".journal"

// journal is the file's content. Data holds ciphertext for profiles and
// config.toml's plaintext (which holds no secret).
type journal struct {
	Okv     int            `json:"okv"`
	Op      string         `json:"op"`
	Writes  []journalWrite `json:"writes,omitempty"`
	Removes []string       `json:"removes,omitempty"`
}

type journalWrite struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
}

// JournalError: a journal okv cannot replay (damaged, or naming files okv
// never writes).
type JournalError struct {
	Path   string
	Reason string
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("unfinished change %s cannot be completed: %s", e.Path, e.Reason)
}

// change is a multi-file change being built under the vault lock.
type change struct {
	v *Vault
	j journal
}

func (v *Vault) newChange(op string) *change {
	return &change{v: v, j: journal{Okv: FormatVersion, Op: op}}
}

// config adds config.toml's new content.
func (c *change) config(cfg *Config) error {
	data, err := encodeConfig(cfg)
	if err != nil {
		return err
	}
	c.j.Writes = append(c.j.Writes, journalWrite{Path: configFile, Data: data})
	return nil
}

// profile adds doc, encrypted to the recipients cfg lists for it and with
// them pinned inside.
func (c *change) profile(doc *Document, cfg *Config) error {
	ct, err := c.v.sealProfile(doc, cfg)
	if err != nil {
		return err
	}
	c.j.Writes = append(c.j.Writes, journalWrite{Path: profilesDir + "/" + doc.Profile + profileExt, Data: ct})
	return nil
}

// remove adds the removal of profile name's file.
func (c *change) remove(name string) {
	c.j.Removes = append(c.j.Removes, profilesDir+"/"+name+profileExt)
}

// commit writes the journal, then every file, then removes the journal.
func (c *change) commit() error {
	data, err := json.Marshal(c.j)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(c.v.journalPath(), data); err != nil {
		return err
	}
	return c.v.replay(c.j)
}

func (v *Vault) journalPath() string { return filepath.Join(v.Dir, journalFile) }

// journalTarget checks that a journal path is one okv writes, and returns
// it inside the vault folder.
func (v *Vault) journalTarget(p string) (string, bool) {
	if p == configFile {
		return filepath.Join(v.Dir, configFile), true
	}
	name, ok := strings.CutPrefix(p, profilesDir+"/")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, profileExt)
	if !ok || ValidateProfileName(name) != nil {
		return "", false
	}
	return v.ProfilePath(name), true
}

// replay writes j's files and removes the journal. Every step can be
// repeated, so a replay cut short is replayed again.
func (v *Vault) replay(j journal) error {
	for _, w := range j.Writes {
		path, ok := v.journalTarget(w.Path)
		if !ok {
			return &JournalError{Path: v.journalPath(), Reason: "it names a file okv does not write"}
		}
		if err := WriteFileAtomic(path, w.Data); err != nil {
			return err
		}
	}
	removed := false
	for _, r := range j.Removes {
		path, ok := v.journalTarget(r)
		if !ok {
			return &JournalError{Path: v.journalPath(), Reason: "it names a file okv does not write"}
		}
		if err := CheckRegular(path); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = true
	}
	if removed {
		if err := syncDir(filepath.Join(v.Dir, profilesDir)); err != nil {
			return err
		}
	}
	if err := os.Remove(v.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(v.Dir)
}

// HasUnfinishedChange reports whether a change was cut short (a journal
// is waiting to be replayed).
func (v *Vault) HasUnfinishedChange() bool {
	_, err := os.Lstat(v.journalPath())
	return err == nil
}

// Recover completes a change that a killed okv left unfinished, under the
// lock, and re-reads config.toml. Without one it does nothing.
func (v *Vault) Recover() error {
	if !v.HasUnfinishedChange() {
		return nil
	}
	unlock, err := v.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := v.recoverLocked(); err != nil {
		return err
	}
	return v.reloadConfigLocked()
}

func (v *Vault) recoverLocked() error {
	data, err := readChecked(v.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil || j.Okv == 0 {
		return &JournalError{Path: v.journalPath(), Reason: "it is not an okv journal"}
	}
	if j.Okv > FormatVersion {
		return &JournalError{Path: v.journalPath(), Reason: "it was written by a newer okv: upgrade okv"}
	}
	return v.replay(j)
}

// begin takes the lock for a change: it removes temp files a killed writer
// left, completes an unfinished change, and re-reads config.toml so the
// change starts from what another okv or a git pull left there.
func (v *Vault) begin() (unlock func(), err error) {
	unlock, err = v.Lock()
	if err != nil {
		return nil, err
	}
	v.cleanTemps()
	if err := v.recoverLocked(); err != nil {
		unlock()
		return nil, err
	}
	if err := v.reloadConfigLocked(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}
