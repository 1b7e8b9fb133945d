#!/usr/bin/env bash
# make fuzz: runs each PKG:FuzzTarget argument for FUZZTIME.
#
# Go 1.26's fuzz coordinator can end a run bounded by a duration with a
# bare "context deadline exceeded" exactly at the deadline, having found
# nothing and written no input: its deadline races the workers' shutdown on
# a loaded machine (golang/go#75804, fixed in Go 1.27). A run that fails
# with that line alone is run once more; any other failure (an input
# written, a panic, a test error) fails at once.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	pkg=${t%%:*} name=${t#*:}
	for attempt in 1 2; do
		echo "fuzz $name (./$pkg/) for $FUZZTIME"
		if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "./$pkg/" 2>&1 | tee "$log"; then
			break
		fi
		if [[ $attempt == 1 ]] && grep -qx '    context deadline exceeded' "$log" &&
			! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
			echo "fuzz $name: Go's fuzzing deadline race (golang/go#75804), nothing found: once more"
			continue
		fi
		exit 1
	done
done
