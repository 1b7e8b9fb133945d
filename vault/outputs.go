package vault

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"time"
)

// templateOutputsKey is state.json's list of files okv run --template
// wrote and has not removed yet: a killed okv leaves them, and the next
// run names them.
const templateOutputsKey = "template_outputs"

// TemplateOutput is one file okv run --template wrote for a child.
type TemplateOutput struct {
	Path  string    `json:"path"`
	PID   int       `json:"pid"` // the okv that wrote it
	Since time.Time `json:"since"`
}

func templateOutputs(st map[string]json.RawMessage) []TemplateOutput {
	var outs []TemplateOutput
	if raw, ok := st[templateOutputsKey]; ok {
		json.Unmarshal(raw, &outs)
	}
	return outs
}

// TemplateOutputs lists the recorded template outputs. It takes no lock.
func (v *Vault) TemplateOutputs() []TemplateOutput { return templateOutputs(v.readState()) }

// UpdateTemplateOutputs replaces the recorded list with edit's answer,
// atomically under the vault lock.
func (v *Vault) UpdateTemplateOutputs(edit func([]TemplateOutput) []TemplateOutput) error {
	unlock, err := v.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	st := v.readState()
	outs := edit(templateOutputs(st))
	if len(outs) == 0 {
		delete(st, templateOutputsKey)
	} else {
		raw, err := json.Marshal(outs)
		if err != nil {
			return err
		}
		st[templateOutputsKey] = raw
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(v.StatePath()); err == nil && !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "write", Path: v.StatePath(), Err: errors.New("not a regular file")}
	}
	return WriteFileAtomic(v.StatePath(), append(data, '\n'))
}

// strayEnvWarnedKey is the day okv run last warned that okv was started
// with a provider key in its environment that okv did not put there.
const strayEnvWarnedKey = "stray_env_warned"

// StrayEnvWarnedOn reports whether that warning was shown on day
// (YYYY-MM-DD). It takes no lock.
func (v *Vault) StrayEnvWarnedOn(day string) bool {
	var d string
	if raw, ok := v.readState()[strayEnvWarnedKey]; ok {
		json.Unmarshal(raw, &d)
	}
	return d == day
}

// MarkStrayEnvWarned records the day of that warning; false when another
// okv recorded it first, so one of concurrent runs warns.
func (v *Vault) MarkStrayEnvWarned(day string) (bool, error) {
	unlock, err := v.Lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	st := v.readState()
	var d string
	if raw, ok := st[strayEnvWarnedKey]; ok {
		json.Unmarshal(raw, &d)
	}
	if d == day {
		return false, nil
	}
	raw, _ := json.Marshal(day)
	st[strayEnvWarnedKey] = raw
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return false, err
	}
	if fi, err := os.Lstat(v.StatePath()); err == nil && !fi.Mode().IsRegular() {
		return false, &fs.PathError{Op: "write", Path: v.StatePath(), Err: errors.New("not a regular file")}
	}
	return true, WriteFileAtomic(v.StatePath(), append(data, '\n'))
}
