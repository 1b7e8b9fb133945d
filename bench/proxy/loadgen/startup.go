package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// startupFlag collects -s NAME=BIN:EMPTY_HOME:LEDGER_HOME.
type startupFlag []startupCase

type startupCase struct{ name, bin, empty, ledger string }

func (s *startupFlag) String() string { return fmt.Sprint(len(*s)) }

func (s *startupFlag) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	parts := strings.Split(rest, ":")
	if !ok || len(parts) != 3 {
		return fmt.Errorf("-s %q: want NAME=BIN:EMPTY_HOME:LEDGER_HOME", v)
	}
	*s = append(*s, startupCase{name, parts[0], parts[1], parts[2]})
	return nil
}

// runStartup: case 5b. The wall time of `okv run --proxy -- true` (start
// the proxy, start the child, stop the proxy) with OKV_HOME at a vault
// with an empty usage ledger and at the same vault with a large one, runs
// of the two alternating (and which goes first alternating too), so both
// see the same machine. The difference is the median of the paired
// differences.
func runStartup(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	var cases startupFlag
	fs.Var(&cases, "s", "NAME=BIN:EMPTY_HOME:LEDGER_HOME (repeatable)")
	rounds := fs.Int("rounds", 3, "rounds")
	runs := fs.Int("runs", 5, "pairs of runs per binary and round")
	dir := fs.String("dir", "", "folder for the result files")
	fs.Parse(args)
	if len(cases) == 0 || *dir == "" || *rounds < 1 || *runs < 1 {
		return errors.New("startup needs -s, -dir, -rounds >= 1 and -runs >= 1")
	}
	// One unmeasured run of each, which also proves that they work. The
	// first run on the ledger is reported apart: it pays for what okv
	// does once (such as building day totals over a ledger an older okv
	// wrote).
	firstRun := make([]float64, len(cases))
	for i, c := range cases {
		if _, err := timeRun(c.bin, c.empty); err != nil {
			return err
		}
		d, err := timeRun(c.bin, c.ledger)
		if err != nil {
			return err
		}
		firstRun[i] = ms(d)
	}
	for r := 1; r <= *rounds; r++ {
		fmt.Fprintf(os.Stderr, "loadgen: startup round %d: %d pairs of okv run --proxy -- true per binary\n", r, *runs)
		res := make([]result, len(cases))
		empty := make([][]float64, len(cases))
		ledger := make([][]float64, len(cases))
		diff := make([][]float64, len(cases))
		for k := 0; k < *runs; k++ {
			for j := range cases {
				i := (j + k + r) % len(cases)
				c := cases[i]
				homes := []string{c.empty, c.ledger}
				if (k+r)%2 == 1 {
					homes[0], homes[1] = homes[1], homes[0]
				}
				var d [2]time.Duration
				for h, home := range homes {
					var err error
					if d[h], err = timeRun(c.bin, home); err != nil {
						return err
					}
				}
				e, l := d[0], d[1]
				if homes[0] != c.empty {
					e, l = l, e
				}
				empty[i] = append(empty[i], ms(e))
				ledger[i] = append(ledger[i], ms(l))
				diff[i] = append(diff[i], ms(l-e))
			}
		}
		for i, c := range cases {
			res[i] = result{Case: "startup", Target: c.name, Round: r, N: *runs,
				EmptyMS: median(empty[i]), LedgerMS: median(ledger[i]), DiffMS: median(diff[i])}
			if r == 1 {
				res[i].FirstMS = firstRun[i]
			}
			if err := writeResult(*dir, res[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// timeRun times BIN run --proxy -- true with OKV_HOME=home (the rest of
// the environment, OKV_IDENTITY_FILE included, inherited).
func timeRun(bin, home string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--proxy", "--", "true")
	cmd.Env = append(os.Environ(), "OKV_HOME="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("OKV_HOME=%s %s run --proxy -- true: %v: %s", home, bin, err, strings.TrimSpace(stderr.String()))
	}
	return d, nil
}
