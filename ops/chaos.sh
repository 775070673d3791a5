#!/usr/bin/env bash
# Faults under load, on loopback, bounded in count and time:
#
# 1. Kills: N times, start `mingzhang serve` on one data directory (the
#    Kaixuan demo), wait for /readyz, prove every write acknowledged so far
#    is in the log (`mingzhang-chaos check`: by seq, hash and donation id)
#    and that `mingzhang verify` passes, then drive donations over HTTP and
#    gRPC (`mingzhang-chaos write`, which records each acknowledged one) and
#    SIGKILL the server at a random moment. At the end a clean stop signs a
#    checkpoint over everything and `verify` checks it strictly.
# 2. Disk full: the same on a small tmpfs filled up under load: writes are
#    refused with 507 problem+json, /readyz says the log failed, nothing
#    acknowledged is lost, and after space returns a restart writes again.
#    Skipped, with the reason printed, where tmpfs cannot be mounted.
# 3. fsync failure (MINGZHANG_TEST_FAIL_LOG_WHEN): writes are refused with
#    503 problem+json, /readyz says the log failed, no later write is
#    acknowledged, and a restart recovers to the last durable record.
#
#   ops/chaos.sh [--kills N] [--max-seconds S] [--skip-disk-full] [--skip-fsync]
#
# Prints one `summary:` line: kills, acknowledged writes checked, lost, and
# recovery time (spawn to /readyz ready) p50/p99. Exits non-zero on any
# failed check. Uses the binaries in $MINGZHANG_BIN_DIR (default
# target/debug), building them when that is the default.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=1000
max_seconds=7200
disk_full=true
fsync_failure=true
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --max-seconds) max_seconds="$2"; shift 2 ;;
    --skip-disk-full) disk_full=false; shift ;;
    --skip-fsync) fsync_failure=false; shift ;;
    *) echo "usage: $0 [--kills N] [--max-seconds S] [--skip-disk-full] [--skip-fsync]" >&2; exit 2 ;;
  esac
done
bin_dir="${MINGZHANG_BIN_DIR:-target/debug}"
if [ -z "${MINGZHANG_BIN_DIR:-}" ]; then
  cargo build -q -p mingzhang-api --bin mingzhang -p mingzhang-loadgen --bin mingzhang-chaos
fi
mz="$bin_dir/mingzhang"
chaos="$bin_dir/mingzhang-chaos"
work="$(mktemp -d "${TMPDIR:-/tmp}/mingzhang-chaos.XXXXXX")"
started_at=$(date +%s)
server_pid=""
writer_pid=""
mounted=""
cleanup() {
  for pid in "$writer_pid" "$server_pid"; do
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$mounted" ]; then umount "$mounted" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "chaos: FAILED: $*" >&2
  if [ -f "$work/serve.log" ]; then tail -n 20 "$work/serve.log" >&2; fi
  exit 1
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Loopback ports of our own, away from the usual 8080/50051.
http_port=$(( 20000 + RANDOM % 10000 ))
grpc_port=$(( http_port + 10000 ))
http="127.0.0.1:$http_port"
grpc="127.0.0.1:$grpc_port"

# start_server DATA_DIR [ENV=VALUE...]: spawns serve; sets server_pid.
start_server() {
  local data_dir="$1"; shift
  env "$@" "$mz" --data-dir "$data_dir" serve --http "$http" --grpc "$grpc" \
    >>"$work/serve.log" 2>&1 &
  server_pid=$!
}

# wait_ready SPAWNED_MS: polls /readyz until 200; sets ready_ms to the
# milliseconds from spawn. (Not in a subshell, so that `fail` ends the run.)
wait_ready() {
  local from="$1" deadline=$(( $(now_ms) + 120000 ))
  while ! curl -fsS -o /dev/null "http://$http/readyz" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before it was ready"
    [ "$(now_ms)" -lt "$deadline" ] || fail "not ready within 120 s"
    sleep 0.01
  done
  ready_ms=$(( $(now_ms) - from ))
}

kill_server() {
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# new_data_dir DIR: the Kaixuan demo and an operator token in DIR/token.
new_data_dir() {
  "$mz" --data-dir "$1" init >/dev/null 2>&1
  "$mz" --data-dir "$1" demo >/dev/null 2>&1
  "$mz" --data-dir "$1" token create --role operator 2>/dev/null >"$1/token"
}

# check_acks DIR ACKS: every acknowledged write is there; sets
# acks_checked to how many were new and log_records to the log's length.
check_acks() {
  local out
  out="$("$chaos" check --data-dir "$1" --acks "$2" --state "$2.checked" 2>&1)" || fail "$out"
  acks_checked="$(sed -n 's/.*checked=\([0-9]*\).*/\1/p' <<<"$out")"
  log_records="$(sed -n 's/.*records=\([0-9]*\).*/\1/p' <<<"$out")"
}

verify() {
  local out
  out="$("$mz" --data-dir "$1" verify "${@:2}" "$1" 2>&1)" || fail "verify ${*:2}: $out"
}

start_writer() {
  local data_dir="$1" acks="$2" prefix="$3" seconds="$4"
  "$chaos" write --http "http://$http" --grpc "http://$grpc" --token "$(cat "$data_dir/token")" \
    --acks "$acks" --prefix "$prefix" --seconds "$seconds" "${@:5}" >>"$work/writer.log" 2>&1 &
  writer_pid=$!
}

wait_writer() {
  local status=0
  wait "$writer_pid" || status=$?
  writer_pid=""
  [ "$status" -eq 0 ] || fail "the writer failed: $(grep -m 3 -E "panicked|Error|error" "$work/writer.log")"
}

# post_donation DIR ID: one donation; prints "status content-type rule".
post_donation() {
  local out
  out="$(curl -sS -o "$work/answer.json" -w '%{http_code} %{content_type}' \
    -H "Authorization: Bearer $(cat "$1/token")" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: $2" --max-time 10 \
    -d "{\"donation_id\":\"$2\",\"fund_id\":\"chaos-fund\",\"amount\":\"1.00\",\"channel\":\"online\",\"received_on\":\"2026-09-05\"}" \
    "http://$http/v1/donations" 2>/dev/null)" || out="000 none"
  local rule
  rule="$(sed -n 's/.*"rule":"\([a-z_]*\)".*/\1/p' "$work/answer.json" 2>/dev/null || true)"
  echo "$out ${rule:-none}"
}

readyz_log_failed() {
  curl -sS "http://$http/readyz" 2>/dev/null | grep -q '"log_failed":true'
}

# --- 1. kills under load ---------------------------------------------------
data="$work/data"
acks="$work/acks"
new_data_dir "$data"
: >"$acks"
recovery_ms=()
checked=0
done_kills=0
for kill_number in $(seq 1 "$kills"); do
  if [ $(( $(date +%s) - started_at )) -ge "$max_seconds" ]; then
    echo "chaos: time limit of ${max_seconds}s reached after $done_kills kills" >&2
    break
  fi
  spawned=$(now_ms)
  start_server "$data"
  wait_ready "$spawned"
  recovery_ms+=("$ready_ms")
  check_acks "$data" "$acks"
  checked=$(( checked + acks_checked ))
  verify "$data" --allow-unsigned
  # Paced, so that a thousand kills leave a log of about 100k records.
  start_writer "$data" "$acks" "k$kill_number" 5 \
    --http-connections 2 --grpc-streams 1 --batch 5 --pause-ms 10
  # Somewhere between 50 and 650 ms into the load.
  sleep "0.$(( 5 + RANDOM % 60 ))"
  [ $(( RANDOM % 60 )) -lt 55 ] || sleep 0.05
  kill_server
  wait_writer
  done_kills=$kill_number
  if [ $(( kill_number % 50 )) -eq 0 ]; then
    echo "chaos: $kill_number kills, $checked acknowledged writes checked" >&2
  fi
done
# After the last kill: recover, check, stop cleanly, and verify the signed
# checkpoint the clean stop leaves over everything.
spawned=$(now_ms)
start_server "$data"
wait_ready "$spawned"
recovery_ms+=("$ready_ms")
check_acks "$data" "$acks"
checked=$(( checked + acks_checked ))
stop_server
verify "$data"
acked_total=$(wc -l <"$acks")
# `check` fails the run at the first acknowledged write it cannot find, so
# this is 0 whenever the run gets here; it is counted, not assumed.
lost=$(( acked_total - checked ))
[ "$lost" -eq 0 ] || fail "checked $checked of $acked_total acknowledged writes"
read -r p50 p99 < <(printf '%s\n' "${recovery_ms[@]}" | sort -n | awk '
  { v[NR] = $1 }
  END { i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999); print v[i50], v[i99] }')
records=$log_records

# --- 2. disk full ----------------------------------------------------------
disk_full_result="skipped"
if $disk_full; then
  mnt="$work/small-disk"
  mkdir -p "$mnt"
  if mount_error="$(mount -t tmpfs -o size=48m tmpfs "$mnt" 2>&1)"; then
    mounted="$mnt"
    full="$mnt/data"
    full_acks="$work/full-acks"
    : >"$full_acks"
    new_data_dir "$full"
    start_server "$full"
    wait_ready "$(now_ms)"
    start_writer "$full" "$full_acks" "full" 30
    sleep 0.3
    # Fill what is left, under load.
    dd if=/dev/zero of="$mnt/filler" bs=1M 2>/dev/null || true
    answer=""
    for attempt in $(seq 1 200); do
      answer="$(post_donation "$full" "full-probe-$attempt")"
      case "$answer" in 2*) sleep 0.05 ;; *) break ;; esac
    done
    wait_writer
    read -r status content_type rule <<<"$answer"
    [ "$status" = 507 ] && [ "$rule" = insufficient_storage ] \
      || fail "a write on a full disk answered: $answer"
    case "$content_type" in application/problem+json*) ;; *) fail "disk full answered $content_type" ;; esac
    readyz_log_failed || fail "/readyz does not say the log failed on a full disk"
    kill -0 "$server_pid" 2>/dev/null || fail "the server died when the disk filled"
    refused="$(post_donation "$full" "full-after")"
    case "$refused" in 2*) fail "a write was acknowledged after the log failed: $refused" ;; esac
    kill_server
    rm -f "$mnt/filler"
    start_server "$full"
    wait_ready "$(now_ms)"
    check_acks "$full" "$full_acks"
    full_checked=$acks_checked
    resumed="$(post_donation "$full" "full-resumed")"
    case "$resumed" in 200*) ;; *) fail "writing did not resume once space returned: $resumed" ;; esac
    stop_server
    verify "$full"
    umount "$mnt"
    mounted=""
    disk_full_result="refused_with=507 acked_checked=$full_checked resumed_after_restart=yes"
  else
    disk_full_result="skipped (cannot mount a tmpfs: ${mount_error//$'\n'/ })"
    echo "chaos: disk full $disk_full_result" >&2
  fi
fi

# --- 3. fsync failure --------------------------------------------------------
fsync_result="skipped"
if $fsync_failure; then
  sick="$work/sick"
  sick_acks="$work/sick-acks"
  trigger="$work/fail-the-log"
  : >"$sick_acks"
  new_data_dir "$sick"
  start_server "$sick" "MINGZHANG_TEST_FAIL_LOG_WHEN=$trigger"
  wait_ready "$(now_ms)"
  start_writer "$sick" "$sick_acks" "sick" 30
  sleep 0.3
  touch "$trigger"
  answer=""
  for attempt in $(seq 1 200); do
    answer="$(post_donation "$sick" "sick-probe-$attempt")"
    case "$answer" in 2*) sleep 0.02 ;; *) break ;; esac
  done
  wait_writer
  read -r status content_type rule <<<"$answer"
  [ "$status" = 503 ] && [ "$rule" = log_failed ] || fail "a write on a failed fsync answered: $answer"
  case "$content_type" in application/problem+json*) ;; *) fail "fsync failure answered $content_type" ;; esac
  readyz_log_failed || fail "/readyz does not say the log failed after fsync failed"
  acked_before=$(wc -l <"$sick_acks")
  for attempt in 1 2 3; do
    refused="$(post_donation "$sick" "sick-after-$attempt")"
    case "$refused" in 2*) fail "a write was acknowledged after the log failed: $refused" ;; esac
  done
  # The trigger's removal does not heal the log; only a restart does.
  rm -f "$trigger"
  refused="$(post_donation "$sick" "sick-after-trigger")"
  case "$refused" in 2*) fail "a failed log took a write without a restart: $refused" ;; esac
  kill_server
  start_server "$sick"
  wait_ready "$(now_ms)"
  check_acks "$sick" "$sick_acks"
  sick_checked=$acks_checked
  [ "$sick_checked" -eq "$acked_before" ] || fail "checked $sick_checked of $acked_before acknowledged"
  resumed="$(post_donation "$sick" "sick-resumed")"
  case "$resumed" in 200*) ;; *) fail "writing did not resume after the restart: $resumed" ;; esac
  stop_server
  verify "$sick"
  fsync_result="refused_with=503 acked_checked=$sick_checked recovered_after_restart=yes"
fi

echo "disk_full: $disk_full_result"
echo "fsync_failure: $fsync_result"
echo "summary: kills=$done_kills acked_checked=$checked lost=$lost records=$records recovery_ms_p50=$p50 recovery_ms_p99=$p99 seconds=$(( $(date +%s) - started_at ))"
