#!/usr/bin/env bash
# Instructions per API request under callgrind: a repeatable measure where wall-clock rounds are
# too noisy to resolve a change of a few per cent (docs/benchmarks.md, telemetry run 38).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/instructions-per-request.sh [--off] [--api BIN] [--seconds N] [--keep FILE] [VAR=VALUE ...]

Starts the API (BIN, default target/release/api) under `valgrind --tool=callgrind` on the
embedded backend, exporting every span to the OTLP receiver of `http_bench` (or, with --off,
with telemetry off), with VAR=VALUE added to its environment (OTEL_TRACES_SAMPLER=always_off
measures the trace context alone), warms it up with 5 s of `wrk -t1 -c4`, zeroes the counters, measures N s
(default 15) and prints instructions per request, all and without SQLite's functions (the group
commit batches differently at different rates, which moves SQLite's share). --keep copies the
callgrind profile to FILE, for `callgrind_annotate FILE` (per-function counts).

Needs: cargo build --release -p api --bin api --example http_bench; apt-get install -y valgrind wrk
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/api-options.sh"
seconds=15
keep=""
while [ $# -gt 0 ]; do
  api_option "$@"
  case "$taken:$1" in
    0:--keep) keep="$2"; taken=2 ;;
    0:*) unknown_option "$1" ;;
  esac
  shift "$taken"
done
. "$root/scripts/lib/api-load.sh"
for tool in valgrind callgrind_control callgrind_annotate wrk curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y valgrind wrk curl" >&2; exit 1; }
done
[ -x "$api" ] && [ -x "$bench" ] || { echo "build first: cargo build --release -p api --bin api --example http_bench" >&2; exit 1; }

env=(RUST_LOG=off OTEL_SDK_DISABLED=true)
if ! $off; then
  start_receiver
  env=("${export_env[@]}")
fi
port=$(free_port)
echo "starting the API under callgrind on port $port ..." >&2
env "${env[@]}" "${extra[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" \
  "$api" --port "$port" --data-dir "$work/data" >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
# Valgrind starts it slowly.
wait_ready "$port" 60
url="http://127.0.0.1:$port/api/tasks"
echo "warming up (5 s) ..." >&2
wrk -t1 -c4 -d5s -s "$post_lua" "$url" >/dev/null
callgrind_control --zero "$api_pid" >/dev/null
echo "measuring (${seconds} s) ..." >&2
requests=$(wrk -t1 -c4 -d"${seconds}s" -s "$post_lua" "$url" | awk '/requests in/ {print $1}')
callgrind_control --dump "$api_pid" >/dev/null
dump=$(ls "$work"/callgrind.*.1)
[ -z "$keep" ] || cp "$dump" "$keep"
callgrind_annotate --auto=no --inclusive=no --threshold=100 "$dump" | python3 -c '
import re, sys
requests = int(sys.argv[1])
THREAD_ENTRIES = {
    "clone",
    "start_thread",
    "<std::sys::thread::unix::Thread>::new::thread_start",
    "core::ops::function::FnOnce::call_once{{vtable.shim}}",
    "std::sys::backtrace::__rust_begin_short_backtrace",
}
total = sqlite = 0
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)", line)
    if not m or "PROGRAM TOTALS" in line:
        continue
    name = m.group(2).split(" [")[0].split(":", 1)[-1]
    # Entries callgrind reports for thread entry points repeat their callees.
    if name in THREAD_ENTRIES:
        continue
    ir = int(m.group(1).replace(",", ""))
    total += ir
    if name.startswith(("sqlite3", "wal", "pager", "btree", "vdbe", "balance")):
        sqlite += ir
print(f"requests {requests}")
print(f"instructions per request {total / requests:.0f}")
print(f"instructions per request without SQLite {(total - sqlite) / requests:.0f}")
' "$requests"
