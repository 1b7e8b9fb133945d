//go:build !linux

package main

import "github.com/rogpeppe/go-internal/testscript"

// cmdPtyExec drives a program on a pseudo-terminal; the scripts that use
// it run on Linux only.
func cmdPtyExec(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("ptyexec runs on Linux only")
}
