//go:build unix

package cmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRunWithHardLinkedAuditHead: okv run's audit record moves
// audit.head in place (run --mask here: a plain run execs the command in
// place of the test); with the head hard-linked to a file outside the
// vault, the command still runs, the other file is left as it was, and
// the warning says why and how to give the vault its own copy. Done as
// the hint says, the log verifies.
func TestRunWithHardLinkedAuditHead(t *testing.T) {
	e := newTestEnv(t)
	truePath, err := exec.LookPath("true") // the child's environment has no PATH
	if err != nil {
		t.Skip("no true here:", err)
	}
	e.ok("", "profile", "create", "prod")
	e.ok(e.key("x")+"\n", "set", "-p", "prod")
	head := filepath.Join(e.dir, "audit.head")
	other := filepath.Join(t.TempDir(), "other")
	if err := os.Link(head, other); err != nil {
		t.Skip("no hard links here:", err)
	}
	before, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	_, errs := e.ok("", "run", "--mask", "-p", "prod", "--", truePath)
	mustContain(t, "run with a linked head", errs,
		"okv: warning: could not write the audit log: "+head+" is a hard link (the file has 2 names)",
		"okv: hint: give the vault its own copy: cp -p "+head+" "+head+".copy && mv "+head+".copy "+head)
	if got, _ := os.ReadFile(other); !bytes.Equal(got, before) {
		t.Errorf("the head's other file was written:\n%s\nwas\n%s", got, before)
	}

	data, _ := os.ReadFile(head)
	os.Remove(head)
	if err := os.WriteFile(head, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("", "run", "--mask", "-p", "prod", "--", truePath)
	out, _ := e.ok("", "log", "--verify")
	mustContain(t, "log --verify", out, "audit log intact: 4 record(s), MAC chain verified, head anchored")
}
