#!/usr/bin/env bash
# The giving-day load test in one command: builds release binaries, serves a
# fresh data directory (Kaixuan demo loaded) on loopback, drives it with
# ops/loadgen over HTTP keep-alive and gRPC, prints the figures and the
# server's peak RSS, then stops the server. Extra arguments go to loadgen,
# e.g. `ops/loadtest.sh --seconds 20 --http-connections 256`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins -p mingzhang-api -p mingzhang-loadgen
bin=target/release/mingzhang
data_dir="$(mktemp -d "${TMPDIR:-/tmp}/mingzhang-loadtest.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$data_dir"
}
trap cleanup EXIT
"$bin" --data-dir "$data_dir" init >/dev/null 2>&1
"$bin" --data-dir "$data_dir" demo >/dev/null 2>&1
token="$("$bin" --data-dir "$data_dir" token create --role operator 2>/dev/null)"
http_addr=127.0.0.1:18080
grpc_addr=127.0.0.1:15051
"$bin" --data-dir "$data_dir" serve --http "$http_addr" --grpc "$grpc_addr" >"$data_dir/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://$http_addr/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
target/release/mingzhang-loadgen --token "$token" --server-pid "$server_pid" \
  --http "http://$http_addr" --grpc "http://$grpc_addr" "$@"
