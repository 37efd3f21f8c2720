# Shared by the scripts that load the API with wrk: a work directory removed on exit with the
# processes started, the request wrk sends, free ports, waiting for the API, and the OTLP
# receiver of `http_bench`. Source it after setting `root` (the repository).

bench="$root/target/release/examples/http_bench"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# The submit benchmark's request (http_bench's BODY).
post_lua="$work/post.lua"
cat >"$post_lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"kind":"cpu","intensity":"light","fail_percent":10}'
wrk.headers["Content-Type"] = "application/json"
LUA

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits up to $2 seconds for the API on loopback port $1 to be ready (`/readyz`); fails if it
# is not.
wait_ready() {
  for _ in $(seq $(($2 * 10))); do
    curl -fs -o /dev/null "http://127.0.0.1:$1/readyz" && return 0
    sleep 0.1
  done
  echo "the API on port $1 was not ready within $2 s" >&2
  return 1
}

# Starts `http_bench receiver`; sets `export_env` to what http_bench's exporting API runs with:
# every span sent to it (over OTLP/HTTP, the default; over gRPC when `$1` is `grpc`), and a
# queue sized for the benchmark's span rate. Fails if the receiver names no endpoints within
# 5 s: an API given an empty endpoint would export nothing, silently.
start_receiver() {
  "$bench" receiver >"$work/receiver" &
  pids+=($!)
  for _ in $(seq 50); do [ "$(wc -l <"$work/receiver")" -ge 2 ] && break; sleep 0.1; done
  [ "$(wc -l <"$work/receiver")" -ge 2 ] || { echo "the OTLP receiver ($bench receiver) did not start within 5 s" >&2; return 1; }
  if [ "${1:-}" = grpc ]; then
    export_env=(OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="$(sed -n 2p "$work/receiver")")
  else
    export_env=(OTEL_EXPORTER_OTLP_ENDPOINT="$(head -1 "$work/receiver")")
  fi
  export_env+=(OTEL_TRACES_SAMPLER=always_on OTEL_BSP_MAX_QUEUE_SIZE=65536)
}
