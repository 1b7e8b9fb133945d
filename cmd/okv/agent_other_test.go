//go:build !linux

package main

import "github.com/rogpeppe/go-internal/testscript"

// cmdAgentProc reads /proc: Linux only (agent.txtar skips elsewhere).
func cmdAgentProc(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("agentproc needs /proc (Linux)")
}

func killAgents(workDir string) {}
