# Shared by the scripts that load the API with wrk: a work directory removed on exit with the
# processes started, the request wrk sends, free ports, and the OTLP receiver of `http_bench`.
# Source it after setting `root` (the repository).

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

# Starts `http_bench receiver`; sets `endpoint` to its OTLP endpoint.
start_receiver() {
  "$root/target/release/examples/http_bench" receiver >"$work/receiver" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$work/receiver" ] && break; sleep 0.1; done
  endpoint=$(head -1 "$work/receiver")
}
