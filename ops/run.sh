#!/usr/bin/env bash
# Sets up and runs the main job on a fresh machine: builds `mingzhang`, creates
# the data directory with the Kaixuan demo data if it is empty, and serves the
# HTTP/gRPC APIs and the transparency page on the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir="${MINGZHANG_DATA_DIR:-./mingzhang-data}"
cargo build --release --bin mingzhang
bin=target/release/mingzhang
if [ ! -d "$data_dir/log" ]; then
  "$bin" --data-dir "$data_dir" init
  "$bin" --data-dir "$data_dir" demo
fi
exec "$bin" --data-dir "$data_dir" serve "$@"
