#!/usr/bin/env bash
# Telemetry's cost per API request, measured with both servers loaded at the same time: on a
# shared host, alternating runs of one server drift by a quarter within a minute, while two
# servers loaded together see the same machine (docs/benchmarks.md, telemetry run 42).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/telemetry-ab.sh [--rounds N] [--seconds S] [--api BIN] [--other-api BIN] [--both-export] [VAR=VALUE ...]

Starts two APIs on the embedded backend: one with telemetry off (OTEL_SDK_DISABLED=true,
RUST_LOG=off), the other exporting every span (OTEL_TRACES_SAMPLER=always_on) to the OTLP
receiver of `http_bench`, with VAR=VALUE added to its environment (for example
OTEL_TRACES_SAMPLER=always_off or OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096). Then N rounds (default
10) of S seconds (default 4) load both at once, each with `wrk -t1 -c64`. For each round it prints
each server's CPU per request, and at the end the median and spread of off / other.

--api is the telemetry-off server's binary (default target/release/api). --other-api is the other
server's binary (default: the same), for comparing two builds. --both-export makes the first
server export every span too (without VAR=VALUE), so two builds are compared with telemetry on;
the columns then say "first" instead of "off".

Needs: cargo build --release -p api --bin api --example http_bench; apt-get install -y wrk curl
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/api-options.sh"
other_api=""
rounds=10
seconds=4
both_export=false
while [ $# -gt 0 ]; do
  api_option "$@"
  case "$taken:$1" in
    0:--rounds) rounds="$2"; taken=2 ;;
    0:--other-api) other_api="$2"; taken=2 ;;
    0:--both-export) both_export=true; taken=1 ;;
    0:*) unknown_option "$1" ;;
  esac
  shift "$taken"
done
! $off || unknown_option --off
other_api=${other_api:-$api}
. "$root/scripts/lib/api-load.sh"
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y wrk curl python3" >&2; exit 1; }
done
for bin in "$api" "$other_api" "$bench"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p api --bin api --example http_bench" >&2; exit 1; }
done

start_receiver
first_env=(RUST_LOG=off OTEL_SDK_DISABLED=true)
label=off
if $both_export; then
  first_env=("${export_env[@]}")
  label=first
fi
first_port=$(free_port)
other_port=$(free_port)
env "${first_env[@]}" "$api" --port "$first_port" --data-dir "$work/first" >"$work/first.log" 2>&1 &
pids+=($!)
first_pid=$!
env "${export_env[@]}" "${extra[@]}" "$other_api" --port "$other_port" --data-dir "$work/other" >"$work/other.log" 2>&1 &
pids+=($!)
other_pid=$!
wait_ready "$first_port" 10
wait_ready "$other_port" 10

# CPU ticks (user + system) of a process: fields 14 and 15 of /proc/PID/stat.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() { wrk -t1 -c64 -d"$1"s -s "$post_lua" "http://127.0.0.1:$2/api/tasks" | awk '/requests in/ {print $1}'; }

echo "warming up both (2 s) ..." >&2
load 2 "$first_port" >/dev/null & warm=$!
load 2 "$other_port" >/dev/null
wait "$warm"
for i in $(seq "$rounds"); do
  echo "round $i of $rounds ($seconds s) ..." >&2
  first0=$(ticks "$first_pid"); other0=$(ticks "$other_pid")
  load "$seconds" "$first_port" >"$work/first.n" & run=$!
  load "$seconds" "$other_port" >"$work/other.n"
  wait "$run"
  [ -s "$work/first.n" ] && [ -s "$work/other.n" ] || { echo "wrk failed in round $i" >&2; exit 1; }
  echo "$(cat "$work/first.n") $(($(ticks "$first_pid") - first0)) $(cat "$work/other.n") $(($(ticks "$other_pid") - other0))"
done >"$work/rounds"

python3 - "$work/rounds" "$(getconf CLK_TCK)" "$label" <<'EOF'
import statistics, sys

hz, label = int(sys.argv[2]), sys.argv[3]
ratios = []
print(f"{'round':>5} {label + ', us/request':>16} {'other, us/request':>18} {label + ' / other':>12}")
for i, line in enumerate(open(sys.argv[1]), 1):
    first_n, first_t, other_n, other_t = map(int, line.split())
    first_us, other_us = first_t / hz / first_n * 1e6, other_t / hz / other_n * 1e6
    ratios.append(first_us / other_us)
    print(f"{i:>5} {first_us:>16.1f} {other_us:>18.1f} {ratios[-1]:>12.3f}")
spread = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
print(f"{label} / other CPU per request: median {statistics.median(ratios):.3f}, sd {spread:.3f}")
EOF
