#!/usr/bin/env bash
# Durable SET throughput and latency: Tandem (single node, every ack fsynced) against Redis with
# `appendonly yes` + `appendfsync always`, same machine, same load tool (redis-benchmark), same
# run. Both listen on 127.0.0.1 only, on free ports, and are stopped at the end.
#
#   scripts/bench-redis-compare.sh [requests-per-case]      (default 50000)
#
# Prints one table: per client count and pipeline depth, throughput and p50/p99 of each, and
# the ratios. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-50000}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tandem-bench.XXXXXX")"
# Data on the same disk as the repository (tmpfs would make fsync free).
data="$(pwd)/target/bench-compare"
rm -rf "$data" && mkdir -p "$data/redis" "$data/tandem"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cleanup() {
  [[ -n "${redis_pid:-}" ]] && kill "$redis_pid" 2>/dev/null || true
  [[ -n "${tandem_pid:-}" ]] && kill "$tandem_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --save '' \
  --appendonly yes --appendfsync always --daemonize no --loglevel warning &
redis_pid=$!
tandem_port="$(free_port)"
admin_port="$(free_port)"
./target/release/tandem serve --listen "127.0.0.1:$tandem_port" --admin-listen "127.0.0.1:$admin_port" \
  --data "$data/tandem" >"$work/tandem.out" 2>"$work/tandem.err" &
tandem_pid=$!
for _ in $(seq 100); do
  grep -q '^ready' "$work/tandem.out" 2>/dev/null && redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

# Prints "rps p50_ms p99_ms" for one redis-benchmark case.
measure() {
  local port=$1 clients=$2 pipeline=$3
  redis-benchmark -h 127.0.0.1 -p "$port" -t set -n "$requests" -c "$clients" -P "$pipeline" \
    -r 100000 -d 64 --csv 2>/dev/null | awk -F',' 'NR==2 { for (i = 1; i <= NF; i++) gsub(/"/, "", $i); print $2, $5, $7 }'
}

printf '%-8s %-5s | %12s %9s %9s | %12s %9s %9s | %9s %9s\n' \
  clients pipe "tandem ops/s" "p50 ms" "p99 ms" "redis ops/s" "p50 ms" "p99 ms" "tput x" "p99 x"
for clients in 1 50 200; do
  for pipeline in 1 16; do
    read -r t_rps t_p50 t_p99 < <(measure "$tandem_port" "$clients" "$pipeline")
    read -r r_rps r_p50 r_p99 < <(measure "$redis_port" "$clients" "$pipeline")
    awk -v c="$clients" -v p="$pipeline" -v trps="$t_rps" -v tp50="$t_p50" -v tp99="$t_p99" \
        -v rrps="$r_rps" -v rp50="$r_p50" -v rp99="$r_p99" 'BEGIN {
      printf "%-8s %-5s | %12.0f %9.3f %9.3f | %12.0f %9.3f %9.3f | %9.2f %9.2f\n",
        c, p, trps, tp50, tp99, rrps, rp50, rp99, trps / rrps, (rp99 > 0 ? tp99 / rp99 : 0) }'
  done
done
echo "(tput x = Tandem/Redis throughput; p99 x = Tandem p99 / Redis p99, lower is better)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
