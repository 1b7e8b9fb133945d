#!/usr/bin/env bash
# Benchmark okv's proxy against a direct connection and nginx, on loopback.
#
#   bench/proxy/run.sh            (make bench-proxy)
#
# Starts a fake OpenAI upstream (fakeupstream), okv's proxy (okvproxy, with a
# usage ledger, as okv runs it) and nginx (proxy_pass to the same upstream,
# setting Authorization, access log on), then for non-streamed and streamed
# chat completions measures requests/s at $CONNS connections, latency
# p50/p99 and time-to-first-byte p50/p99 with loadgen, and prints a table
# with ratios against direct and nginx, the CPU time the proxy (okv, or
# nginx's master and workers) spent per request and its context switches
# per request (warm-up included), and the okv proxy's peak RSS (VmHWM).
#
# The paced case sends RATE requests/s in all (well below what any of the
# three can serve), so its latencies are each path's own, not queueing.
#
# The machine is noisy (two cores shared by the load generator, the
# upstream and the proxy, and neighbours): each case runs in ROUNDS rounds
# with the three targets interleaved, each round starting with another
# one, and the report gives medians over the rounds and each round's
# okv/nginx ratio.
#
# Knobs (environment): ROUNDS (3), DURATION (5s per target, case and round),
# WARMUP (1s), CONNS (64), RATE (2000),
# CHUNKS (16 stream chunks), CHUNK_DELAY (2ms between stream chunks).
# Needs go and nginx (Debian package nginx); everything listens on
# 127.0.0.1 and everything started here is stopped on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-64}
CHUNKS=${CHUNKS:-16}
CHUNK_DELAY=${CHUNK_DELAY:-2ms}
RATE=${RATE:-2000}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [[ ! -x $NGINX ]]; then
	echo "bench-proxy: nginx not found (apt-get install nginx)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/okv-bench-proxy.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_line FILE: waits (up to 10 s) for FILE to hold a full first line.
wait_line() {
	local i
	for i in $(seq 1 200); do
		if [[ -s $1 ]] && [[ $(wc -l <"$1") -ge 1 ]]; then
			head -n1 "$1"
			return 0
		fi
		sleep 0.05
	done
	echo "bench-proxy: no address in $1" >&2
	return 1
}

# wait_port PORT: waits (up to 10 s) for something to accept on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench-proxy: nothing listens on port $1" >&2
	return 1
}

# peak_rss PID...: summed VmHWM (kB) of the processes.
peak_rss() {
	local pid sum=0 v
	for pid in "$@"; do
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# ctx_switches PID...: summed context switches (voluntary and not) of the
# processes' threads.
ctx_switches() {
	local pid sum=0 v
	for pid in "$@"; do
		v=$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# cpu_ticks PID...: summed user+system CPU time (clock ticks) of the processes.
cpu_ticks() {
	local pid sum=0 v
	for pid in "$@"; do
		v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

echo "bench-proxy: building" >&2
mkdir -p "$tmp/bin" "$tmp/results"
(cd "$root" && go build -o "$tmp/bin/" ./bench/proxy/fakeupstream ./bench/proxy/okvproxy ./bench/proxy/loadgen)
bin=$tmp/bin

"$bin/fakeupstream" -chunks "$CHUNKS" -delay "$CHUNK_DELAY" >"$tmp/upstream.addr" &
pids+=($!)
up=$(wait_line "$tmp/upstream.addr")

"$bin/okvproxy" -upstream "http://$up" -ledger "$tmp/usage.jsonl" >"$tmp/okv.addr" &
okv_pid=$!
pids+=($okv_pid)
read -r okv_addr okv_token < <(wait_line "$tmp/okv.addr")

nport=$("$bin/loadgen" freeport)
mkdir -p "$tmp/nginx"
user_line=""
if [[ $(id -u) -eq 0 ]]; then
	user_line="user $(id -un) $(id -gn);"
fi
cat >"$tmp/nginx/nginx.conf" <<CONF
$user_line
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    upstream fake {
        server $up;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nport;
        location / {
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer sk-bench-real-key";
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
CONF
"$NGINX" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' &
nginx_pid=$!
pids+=($nginx_pid)
wait_port "$nport"
nginx_pids=("$nginx_pid" $(pgrep -P "$nginx_pid" || true))
hz=$(getconf CLK_TCK)

echo "bench-proxy: upstream $up, okv $okv_addr, nginx 127.0.0.1:$nport; $CONNS connections, $ROUNDS rounds of $WARMUP warm-up + $DURATION per target and case" >&2
targets=(direct okv nginx)
for mode in json paced stream; do
	flag=""
	[[ $mode == stream ]] && flag="-stream"
	[[ $mode == paced ]] && flag="-rate $RATE"
	for round in $(seq 1 "$ROUNDS"); do
		# Each round starts with another target, so none is always first
		# (or last) while the machine's load drifts.
		for i in 0 1 2; do
			target=${targets[$(((i + round - 1) % 3))]}
			case $target in
			direct) url="http://$up/v1/chat/completions" tok="" ;;
			okv) url="http://$okv_addr/v1/chat/completions" tok=$okv_token ;;
			nginx) url="http://127.0.0.1:$nport/v1/chat/completions" tok="" ;;
			esac
			echo "bench-proxy: $mode round $round via $target" >&2
			case $target in
			okv) watched=("$okv_pid") ;;
			nginx) watched=("${nginx_pids[@]}") ;;
			*) watched=() ;;
			esac
			before=$(cpu_ticks "${watched[@]}") sw_before=$(ctx_switches "${watched[@]}")
			"$bin/loadgen" run -url "$url" -token "$tok" -c "$CONNS" -d "$DURATION" -warmup "$WARMUP" \
				$flag -target "$target" -round "$round" -o "$tmp/results/${mode}_${target}_$round.json"
			after=$(cpu_ticks "${watched[@]}") sw_after=$(ctx_switches "${watched[@]}")
			echo "$((after - before)) $hz $((sw_after - sw_before))" >"$tmp/results/${mode}_${target}_$round.cpu"
		done
	done
done

okv_rss=$(peak_rss "$okv_pid")
nginx_rss=$(peak_rss "${nginx_pids[@]}")
records=$(wc -l <"$tmp/usage.jsonl")
echo
"$bin/loadgen" report -dir "$tmp/results" -rss-kb "$okv_rss" -nginx-rss-kb "$nginx_rss"
echo "okv usage records written: $records"
echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{print $3}'), $("$NGINX" -v 2>&1 | sed 's/.*: //')"
