#!/usr/bin/env bash
# Benchmark okv's leak scanner against gitleaks, and the output masker.
#
#   bench/scan/run.sh            (what `make bench-scan` runs)
#
# 1. gencorpus writes a tree of FILES files, SIZE bytes in all, with planted
#    keys (random, never real) and decoys, and a manifest of the plants.
# 2. gitleaks is built from the Go module proxy into the temp folder (never a
#    dependency of okv) and given a config holding only its openai-api-key
#    rule, copied from the gitleaks.toml of the version installed.
# 3. hyperfine times bench/scan/okvscan (scan.Scan over the tree, no CLI
#    needed) against `gitleaks dir`, in one run.
# 4. okvscan scores both reports against the manifest: recall on every
#    planted form and on the OpenAI keys that stand as they are (all that a
#    shape rule can see), false positives, and the time ratio.
# 5. maskbench pipes MASK_BYTES through shell.NewMasker into io.Discard,
#    in process and from a child process, and prints MB/s.
#
# Environment: FILES (50000), SIZE (200M), SEED, RUNS (3), WARMUP (1),
# MASK_BYTES (1G), KEEP=1 to keep the temp folder, GITLEAKS_VERSION (latest).
set -euo pipefail

FILES=${FILES:-50000}
SIZE=${SIZE:-200M}
SEED=${SEED:-20260101}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
MASK_BYTES=${MASK_BYTES:-1G}
GITLEAKS_VERSION=${GITLEAKS_VERSION:-latest}

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/okv-bench-scan.XXXXXX")
if [[ "${KEEP:-}" != 1 ]]; then
	trap 'rm -rf "$tmp"' EXIT
else
	echo "keeping $tmp"
fi
for tool in go hyperfine; do
	command -v "$tool" >/dev/null || { echo "bench-scan: $tool is not installed" >&2; exit 1; }
done

cd "$root"
echo "== build"
go build -o "$tmp/gencorpus" ./scan/corpus/cmd/gencorpus
go build -o "$tmp/okvscan" ./bench/scan/okvscan
mask_ok=1
go build -o "$tmp/maskbench" ./bench/scan/maskbench || { mask_ok=0; echo "bench-scan: maskbench does not build (shell/ in flux?); masking skipped" >&2; }

echo "== corpus: $FILES files, $SIZE"
"$tmp/gencorpus" -dir "$tmp/tree" -files "$FILES" -size "$SIZE" -seed "$SEED" -manifest "$tmp/manifest.json"

echo "== gitleaks $GITLEAKS_VERSION from the module proxy"
# Outside okv's module, so go.mod is never touched.
(cd "$tmp" && GOFLAGS= GOBIN="$tmp" go install "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION")
glver=$(go version -m "$tmp/gitleaks" | awk '$1 == "mod" { print $3 }')
echo "gitleaks $glver"
gltoml="$(go env GOMODCACHE)/github.com/zricethezav/gitleaks/v8@$glver/config/gitleaks.toml"
# Only the openai-api-key rule: from its [[rules]] header to the next table.
awk 'p && /^\[\[/ { exit }
	/^\[\[rules\]\]$/ { hdr = 1; next }
	hdr && /^id = "openai-api-key"$/ { p = 1; print "title = \"gitleaks openai-api-key only\"\n\n[[rules]]" }
	{ hdr = 0 }
	p { print }' "$gltoml" >"$tmp/gitleaks-openai.toml"
grep -q '^regex = ' "$tmp/gitleaks-openai.toml" || { echo "bench-scan: no openai-api-key rule in $gltoml" >&2; exit 1; }
sed -n 's/^regex = /gitleaks rule: /p' "$tmp/gitleaks-openai.toml"

echo "== time (hyperfine --warmup $WARMUP --runs $RUNS)"
hyperfine --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/hyperfine.json" \
	-n okv "$tmp/okvscan -dir $tmp/tree -manifest $tmp/manifest.json -report $tmp/okv.json" \
	-n gitleaks "$tmp/gitleaks dir --no-banner --log-level error --config $tmp/gitleaks-openai.toml --report-format json --report-path $tmp/gitleaks.json --exit-code 0 $tmp/tree"

echo "== results"
"$tmp/okvscan" -dir "$tmp/tree" -manifest "$tmp/manifest.json" -recall \
	-gitleaks-report "$tmp/gitleaks.json" -hyperfine "$tmp/hyperfine.json" -json "$tmp/results.json"

if [[ $mask_ok == 1 ]]; then
	echo "== masking ($MASK_BYTES)"
	bytes=$(numfmt --from=iec "$MASK_BYTES")
	"$tmp/maskbench" -bytes "$bytes"
	line="INFO request handled in 12ms status=200 GET /v1/chat/completions model=gpt-4o user=sk-learn session"
	# yes dies of SIGPIPE when head is done: not an error.
	{ yes "$line" || true; } | head -c "$bytes" | "$tmp/maskbench" -stdin -nomask
	{ yes "$line" || true; } | head -c "$bytes" | "$tmp/maskbench" -stdin
fi
