//go:build !unix

package main

import "github.com/rogpeppe/go-internal/testscript"

// ptyshell and killedby need ptys, job control and deaths by signal: Unix.
func cmdPtyShell(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("ptyshell runs on Unix only")
}

func cmdKilledBy(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("killedby runs on Unix only")
}
