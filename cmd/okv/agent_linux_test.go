package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/okvault/okv/agent"
)

// agentproc count N | kill | nosecret | nondumpable
//
// Acts on the real okv agent process of the script's vault (its socket is
// in $XDG_RUNTIME_DIR/okv, else $OKV_HOME/agent):
// count the agent processes serving that socket; kill -9 it (leaving its
// socket behind, as a crash does); check that its argv and environment
// (/proc/PID/cmdline, /proc/PID/environ) hold neither $KEY nor the
// passphrase nor an AGE-SECRET-KEY; check that it reports
// prctl(PR_GET_DUMPABLE) == 0.
func cmdAgentProc(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: agentproc count N|kill|nosecret|nondumpable")
	}
	socket := agent.SocketPath(agent.Dir(ts.Getenv, filepath.Join(ts.Getenv("OKV_HOME"), "agent")))
	procs := func() []int {
		var pids []int
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			argv := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
			if len(argv) == 3 && argv[1] == "__agent" && argv[2] == socket {
				if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
					continue // a zombie, already dead
				}
				pids = append(pids, pid)
			}
		}
		return pids
	}
	one := func() int {
		p := procs()
		if len(p) != 1 {
			ts.Fatalf("want one agent process for %s, found %v", socket, p)
		}
		return p[0]
	}
	switch args[0] {
	case "count":
		want, _ := strconv.Atoi(args[1])
		// An agent that has nothing left to hold exits within the reaper's
		// tick: give it a moment before counting.
		var got []int
		for i := 0; i < 50; i++ {
			if got = procs(); len(got) == want {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if (len(got) == want) == neg {
			ts.Fatalf("agent processes for %s: %v, want %d", socket, got, want)
		}
	case "kill":
		pid := one()
		syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && len(procs()) > 0; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	case "nosecret":
		pid := one()
		for _, f := range []string{"cmdline", "environ"} {
			data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), f))
			if err != nil {
				ts.Fatalf("reading /proc/%d/%s: %v", pid, f, err)
			}
			// The stored value (agent.txtar's set.txt), the passphrase, any identity.
			for _, s := range []string{ts.Getenv("KEY"), "sk-typed-0123456789abcdef", "correct horse", "AGE-SECRET-KEY", "OKV_"} {
				if s != "" && bytes.Contains(data, []byte(s)) {
					ts.Fatalf("/proc/%d/%s holds %q", pid, f, s)
				}
			}
		}
	case "nondumpable":
		one()
		r, err := agent.Call(socket, agent.Request{Op: agent.OpStatus})
		if err != nil {
			ts.Fatalf("agent status: %v", err)
		}
		if r.Dumpable != 0 {
			ts.Fatalf("agent reports prctl(PR_GET_DUMPABLE) = %d, want 0", r.Dumpable)
		}
	default:
		ts.Fatalf("unknown agentproc command %q", args[0])
	}
}

// killAgents ends the agents a script started under workDir (a script that
// failed half-way would otherwise leave one until its idle timeout).
func killAgents(workDir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		if len(argv) == 3 && argv[1] == "__agent" && strings.HasPrefix(argv[2], workDir+string(filepath.Separator)) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
