# Shared by scripts/bench-compare and scripts/bench-cpu: starting the contestants on
# 127.0.0.1 and stopping them at exit. Source it after setting:
#   tandem  path of the tandem binary
#   data    a fresh directory for data, logs and results (on the real disk: fsync must cost
#           what it costs)
# Every started process's pid is appended to `pids` (killed on exit) and, per contestant, to
# `server_pids[NAME]` (space-separated), so callers can read /proc for each contestant.
# shellcheck shell=bash

pids=()
declare -A target extra describe server_pids
contestants=()

contestants_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap contestants_cleanup EXIT

# A port on 127.0.0.1 nobody answers on right now, below Linux's default ephemeral range
# (32768-60999), so an outgoing connection of another process cannot take it before we bind.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# redis_start NAME PORT [extra redis-server args...]: starts, waits for PING, sets $started_pid.
redis_start() {
  local name=$1 port=$2; shift 2
  mkdir -p "$data/$name"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$data/$name" --save '' \
    --appendonly yes --appendfsync always --daemonize no --loglevel warning \
    --logfile "$data/$name.log" "$@" &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "redis $name did not start; log:" >&2; cat "$data/$name.log" >&2; exit 1
}

# tandem_start NAME [extra tandem serve args...]: starts, waits for the ready line, sets
# $listen and $admin to its client and admin addresses, $tls to its TLS address (if any)
# and $started_pid. TANDEM_SERVE_ARGS (space-separated) is added to every server's flags.
tandem_start() {
  local name=$1; shift
  local common_args=()
  read -r -a common_args <<<"${TANDEM_SERVE_ARGS:-}"
  "$tandem" serve --data "$data/$name" --admin-listen 127.0.0.1:0 "${common_args[@]}" "$@" \
    >"$data/$name.out" 2>"$data/$name.log" &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 200); do
    if grep -q '^ready' "$data/$name.out" 2>/dev/null; then
      read -r listen admin < <(sed -n 's/^ready listen=\([^ ]*\) admin=\([^ ]*\).*/\1 \2/p' "$data/$name.out")
      tls=$(sed -n 's/^ready .* tls=\([^ ]*\).*/\1/p' "$data/$name.out")
      return
    fi
    sleep 0.1
  done
  echo "tandem $name did not start; log:" >&2; cat "$data/$name.log" >&2; exit 1
}

# redis-aof: one redis-server, appendonly yes, appendfsync always.
start_redis_aof() {
  local port
  port=$(free_port)
  redis_start redis-aof "$port"
  contestants+=(redis-aof); target[redis-aof]="127.0.0.1:$port"; extra[redis-aof]=""
  server_pids[redis-aof]="$started_pid"
  describe[redis-aof]="redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), \`appendonly yes\`, \`appendfsync always\`"
}

# redis-replica: primary + replica, both appendfsync always; writes followed by WAIT 1 0.
start_redis_replica() {
  local primary replica
  primary=$(free_port)
  redis_start redis-primary "$primary"
  server_pids[redis-replica]="$started_pid"
  replica=$(free_port)
  redis_start redis-replica "$replica" --replicaof 127.0.0.1 "$primary"
  server_pids[redis-replica]+=" $started_pid"
  for _ in $(seq 100); do
    redis-cli -p "$replica" info replication | grep -q 'master_link_status:up' && break
    sleep 0.1
  done
  redis-cli -p "$replica" info replication | grep -q 'master_link_status:up' || { echo "replica did not sync" >&2; exit 1; }
  contestants+=(redis-replica); target[redis-replica]="127.0.0.1:$primary"; extra[redis-replica]="--wait-replicas 1"
  describe[redis-replica]="primary + replica, both \`appendfsync always\`; every write followed by \`WAIT 1 0\` (counted as one operation)"
}

# tandem-1: a single node with default settings. start_tandem_1 NAME [serve args...] starts
# a variant under another name (tandem-1-inline: `--wal-writer inline`).
start_tandem_1() {
  local name=${1:-tandem-1}; shift || true
  tandem_start "$name" --listen 127.0.0.1:0 "$@"
  contestants+=("$name"); target[$name]="$listen"; extra[$name]=""
  server_pids[$name]="$started_pid"
  describe[$name]="\`tandem serve\`, single node, defaults (every ack fsynced on its disk; no second zone)"
  if [[ $# -gt 0 ]]; then describe[$name]="as tandem-1, with \`$*\`"; fi
}

# tandem-3: three nodes in zones a, b, c; the load goes to the leader (--follow-leader).
# Sets three_note when no leader is elected. start_tandem_3 NAME [serve args...] starts a
# variant under another name (tandem-3-inline: `--wal-writer inline` on every node).
start_tandem_3() {
  local name=${1:-tandem-3}; shift || true
  local secret="bench-secret-$RANDOM$RANDOM$RANDOM"
  local zones=(- a b c) n m leader="" targets
  local -a client_port peer_port client_addr
  for n in 1 2 3; do client_port[n]=$(free_port); peer_port[n]=$(free_port); done
  server_pids[$name]=""
  for n in 1 2 3; do
    local peers=()
    for m in 1 2 3; do
      if [[ $m != "$n" ]]; then peers+=(--peer "$m@127.0.0.1:${peer_port[m]}"); fi
    done
    tandem_start "$name-n$n" --node-id "$n" --zone "${zones[n]}" \
      --listen "127.0.0.1:${client_port[n]}" --peer-listen "127.0.0.1:${peer_port[n]}" \
      "${peers[@]}" --cluster-secret "$secret" "$@"
    client_addr[n]=$listen
    server_pids[$name]+=" $started_pid"
  done
  # The leader is the node whose INFO says role:master.
  for _ in $(seq 100); do
    for n in 1 2 3; do
      if redis-cli -h 127.0.0.1 -p "${client_addr[n]##*:}" info replication 2>/dev/null | grep -q '^role:master'; then
        leader=$n; break 2
      fi
    done
    sleep 0.1
  done
  if [[ -z $leader ]]; then
    three_note="$name: skipped, no leader elected within 10 s (logs in $data/$name-n*.log)."
    return
  fi
  targets="--target ${client_addr[leader]}"
  for n in 1 2 3; do
    if [[ $n != "$leader" ]]; then targets+=" --target ${client_addr[n]}"; fi
  done
  contestants+=("$name"); target[$name]=""; extra[$name]="$targets --follow-leader"
  describe[$name]="three \`tandem serve\` nodes in zones a, b, c on this machine; acks fsynced on a quorum in two zones"
  if [[ $# -gt 0 ]]; then describe[$name]="as tandem-3, with \`$*\` on every node"; fi
}

# run_bench NAME WORKLOAD CLIENTS DURATION WARMUP OUT [extra bench args...]: one JSON result.
run_bench() {
  local name=$1 workload=$2 clients=$3 duration=$4 warmup=$5 out=$6; shift 6
  local targets=()
  if [[ -n ${target[$name]} ]]; then targets=(--target "${target[$name]}"); fi
  # shellcheck disable=SC2086 # extra[] holds several flags
  "$tandem" bench "${targets[@]}" ${extra[$name]} -w "$workload" --clients "$clients" \
    --duration "$duration" --warmup "$warmup" --json "$out" "$@" >/dev/null 2>"$out.err" || true
  [[ -s $out ]] || { echo "bench $name $workload $clients failed:" >&2; cat "$out.err" >&2; exit 1; }
}

# make_tls_files: a throwaway CA in $data/tls, a certificate per node n (1-3) naming
# tandem-node-n and 127.0.0.1 (server and client use, for mTLS peers) and a client
# certificate for the load generator. Sets $tls_dir.
make_tls_files() {
  tls_dir="$data/tls"
  mkdir -p "$tls_dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=bench-ca" -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.crt" 2>/dev/null
  local n name
  for name in node-1 node-2 node-3 client; do
    n=${name#node-}
    local san="IP:127.0.0.1"
    if [[ $name != client ]]; then san="DNS:tandem-node-$n,IP:127.0.0.1"; fi
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
      -keyout "$tls_dir/$name.key" -out "$tls_dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$tls_dir/$name.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" \
      -CAcreateserial -days 2 -out "$tls_dir/$name.crt" \
      -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") 2>/dev/null
  done
}

# The bench flags that connect over TLS with the client certificate.
tls_bench_flags() {
  echo "--tls --tls-ca-cert-file $tls_dir/ca.crt --tls-cert-file $tls_dir/client.crt --tls-key-file $tls_dir/client.key"
}

# tls_serve_flags N: the serve flags for node N's TLS client port (and, for a cluster,
# mTLS peers with the same files).
tls_serve_flags() {
  echo "--tls-port 0 --tls-cert-file $tls_dir/node-$1.crt --tls-key-file $tls_dir/node-$1.key --tls-ca-cert-file $tls_dir/ca.crt"
}

# tandem-1-tls: a single node; the load goes to its TLS port (client certificates required).
start_tandem_1_tls() {
  # shellcheck disable=SC2046 # several flags
  tandem_start tandem-1-tls --listen 127.0.0.1:0 $(tls_serve_flags 1)
  contestants+=(tandem-1-tls); target[tandem-1-tls]="$tls"; extra[tandem-1-tls]="$(tls_bench_flags)"
  server_pids[tandem-1-tls]="$started_pid"
  describe[tandem-1-tls]="as tandem-1, the load on its TLS port (\`tls-auth-clients yes\`, a client certificate, rustls)"
}

# tandem-3-tls: as tandem-3, with mTLS peers (`tls-cluster yes`) and the load on the TLS ports.
start_tandem_3_tls() {
  local secret="bench-secret-$RANDOM$RANDOM$RANDOM"
  local zones=(- a b c) n m leader="" targets
  local -a client_port peer_port client_addr tls_addr
  for n in 1 2 3; do client_port[n]=$(free_port); peer_port[n]=$(free_port); done
  server_pids[tandem-3-tls]=""
  for n in 1 2 3; do
    local peers=()
    for m in 1 2 3; do
      if [[ $m != "$n" ]]; then peers+=(--peer "$m@127.0.0.1:${peer_port[m]}"); fi
    done
    # shellcheck disable=SC2046 # several flags
    tandem_start "tandem-3-tls-n$n" --node-id "$n" --zone "${zones[n]}" \
      --listen "127.0.0.1:${client_port[n]}" --peer-listen "127.0.0.1:${peer_port[n]}" \
      "${peers[@]}" --cluster-secret "$secret" $(tls_serve_flags "$n") --tls-cluster yes
    client_addr[n]=$listen
    tls_addr[n]=$tls
    server_pids[tandem-3-tls]+=" $started_pid"
  done
  for _ in $(seq 100); do
    for n in 1 2 3; do
      if redis-cli -h 127.0.0.1 -p "${client_addr[n]##*:}" info replication 2>/dev/null | grep -q '^role:master'; then
        leader=$n; break 2
      fi
    done
    sleep 0.1
  done
  if [[ -z $leader ]]; then
    three_note="tandem-3-tls: skipped, no leader elected within 10 s (logs in $data/tandem-3-tls-n*.log)."
    return
  fi
  targets="--target ${tls_addr[leader]}"
  for n in 1 2 3; do
    if [[ $n != "$leader" ]]; then targets+=" --target ${tls_addr[n]}"; fi
  done
  contestants+=(tandem-3-tls); target[tandem-3-tls]=""; extra[tandem-3-tls]="$targets --follow-leader $(tls_bench_flags)"
  describe[tandem-3-tls]="as tandem-3, with mutual TLS between the nodes (\`tls-cluster yes\`) and the load on the TLS ports"
}
