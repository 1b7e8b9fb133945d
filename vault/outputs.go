package vault

import (
	"encoding/json"
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
func (v *Vault) TemplateOutputs() []TemplateOutput { return templateOutputs(v.stateSnapshot()) }

// UpdateTemplateOutputs replaces the recorded list with edit's answer,
// atomically under the vault lock.
func (v *Vault) UpdateTemplateOutputs(edit func([]TemplateOutput) []TemplateOutput) error {
	_, err := v.updateState(WriteFileAtomic, func(st map[string]json.RawMessage) (bool, error) {
		outs := edit(templateOutputs(st))
		if len(outs) == 0 {
			delete(st, templateOutputsKey)
			return true, nil
		}
		return true, setState(st, templateOutputsKey, outs)
	})
	return err
}

// strayEnvWarnedKey is the day okv run last warned that okv was started
// with a provider key in its environment that okv did not put there.
const strayEnvWarnedKey = "stray_env_warned"

// StrayEnvWarnedOn reports whether that warning was shown on day
// (YYYY-MM-DD). It takes no lock.
func (v *Vault) StrayEnvWarnedOn(day string) bool {
	var d string
	if raw, ok := v.stateSnapshot()[strayEnvWarnedKey]; ok {
		json.Unmarshal(raw, &d)
	}
	return d == day
}

// MarkStrayEnvWarned records the day of that warning; false when another
// okv recorded it first, so one of concurrent runs warns.
func (v *Vault) MarkStrayEnvWarned(day string) (bool, error) {
	return v.updateState(WriteFileAtomic, func(st map[string]json.RawMessage) (bool, error) {
		var d string
		if raw, ok := st[strayEnvWarnedKey]; ok {
			json.Unmarshal(raw, &d)
		}
		if d == day {
			return false, nil
		}
		return true, setState(st, strayEnvWarnedKey, day)
	})
}
