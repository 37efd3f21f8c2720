#!/usr/bin/env bash
# CPU per request of each of the API's threads, by thread name: where telemetry's cost lands
# (the tokio workers, the span exporter, the checkpointer), which a process total hides.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/thread-cpu.sh [--off | --grpc] [--api BIN] [--seconds N] [--json] [VAR=VALUE ...]

Starts the API (BIN, default target/release/api) on the embedded backend, exporting every span
to the OTLP receiver of `http_bench` over OTLP/HTTP (over OTLP/gRPC with --grpc; with --off,
telemetry is off), with VAR=VALUE added to its environment (for example
OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096). It warms up with 3 s of `wrk -t2 -c128`, then
measures N s (default 8) and prints, per thread name, the user and system CPU per request (from
/proc/PID/task/*/stat) and the context switches per request. --json prints one JSON object.

Needs: cargo build --release -p api --bin api --example http_bench; apt-get install -y wrk curl
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/api-options.sh"
seconds=8
protocol=http
json=false
while [ $# -gt 0 ]; do
  api_option "$@"
  case "$taken:$1" in
    0:--grpc) protocol=grpc; taken=1 ;;
    0:--json) json=true; taken=1 ;;
    0:*) unknown_option "$1" ;;
  esac
  shift "$taken"
done
. "$root/scripts/lib/api-load.sh"
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y wrk curl python3" >&2; exit 1; }
done
for bin in "$api" "$bench"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p api --bin api --example http_bench" >&2; exit 1; }
done

env=(RUST_LOG=off OTEL_SDK_DISABLED=true)
if ! $off; then
  start_receiver "$protocol"
  env=("${export_env[@]}")
fi
port=$(free_port)
env "${env[@]}" "${extra[@]}" "$api" --port "$port" --data-dir "$work/data" >"$work/api.log" 2>&1 &
pids+=($!)
api_pid=$!
wait_ready "$port" 10
url="http://127.0.0.1:$port/api/tasks"

# Per thread: name, user and system ticks (fields 14, 15 of stat), voluntary and involuntary
# context switches (status).
snapshot() {
  for t in /proc/"$api_pid"/task/*; do
    printf '%s %s %s %s\n' "$(basename "$t")" "$(tr ' ' _ <"$t/comm")" \
      "$(awk '{print $14, $15}' "$t/stat")" \
      "$(awk '/^(non)?voluntary_ctxt_switches/ {printf "%s ", $2}' "$t/status")"
  done
}
echo "warming up (3 s) ..." >&2
wrk -t2 -c128 -d3s -s "$post_lua" "$url" >/dev/null
snapshot >"$work/before"
echo "measuring (${seconds} s) ..." >&2
requests=$(wrk -t2 -c128 -d"${seconds}s" -s "$post_lua" "$url" | awk '/requests in/ {print $1}')
snapshot >"$work/after"
python3 - "$work/before" "$work/after" "$requests" "$seconds" "$(getconf CLK_TCK)" "$json" <<'PY'
import json, sys
before = {l.split()[0]: l.split() for l in open(sys.argv[1])}
after = {l.split()[0]: l.split() for l in open(sys.argv[2])}
requests, seconds, tick, as_json = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "true"
threads = {}
for tid, now in after.items():
    was = before.get(tid, [tid, now[1], "0", "0", "0", "0"])
    d = [int(now[i]) - int(was[i]) for i in range(2, 6)]
    t = threads.setdefault(now[1], {"threads": 0, "user_us": 0.0, "system_us": 0.0, "switches": 0.0})
    t["threads"] += 1
    t["user_us"] += d[0] / tick / requests * 1e6
    t["system_us"] += d[1] / tick / requests * 1e6
    t["switches"] += (d[2] + d[3]) / requests
if as_json:
    print(json.dumps({"requests_per_second": round(requests / seconds), "per_request": threads}))
else:
    print(f"requests/s {requests / seconds:.0f}  (CPU in us per request; clock ticks of {1e6 / tick:.0f} us)")
    for name, t in sorted(threads.items(), key=lambda kv: -(kv[1]["user_us"] + kv[1]["system_us"])):
        if t["user_us"] + t["system_us"] > 0.01 or t["switches"] > 0.001:
            print(f"{name:18s} x{t['threads']}  user {t['user_us']:6.2f}  system {t['system_us']:6.2f}  switches {t['switches']:.3f}")
PY
