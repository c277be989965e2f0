#!/usr/bin/env bash
# outage.sh BINARY OUTDIR — the three-server rehearsal of issue 12 on one
# machine: simnode, frontend, backend and projector as separate processes on
# PostgreSQL and RabbitMQ, 4 simulated miners at 1 share/s each; the backend
# is stopped for OUTAGE seconds while they keep mining, then restarted; once
# the queue has drained, the follower has caught up with the node and every
# pool block has matured, fairreport reads the event store (shares received
# during the outage: -from/-to window).
#
# Everything is fresh per run: database ppfair_<run>, RabbitMQ vhost
# ppfair-<run> with users ppfair-frontend-<run>/ppfair-backend-<run>
# (deleted at the end unless KEEP_BROKER=1; the database is kept for
# re-reading and printed). PostgreSQL roles ppfair_{backend,projector,
# frontend} are shared by all runs (trust auth on 127.0.0.1).
#
# Knobs (environment): WARMUP OUTAGE AFTER (seconds, default 60 60 60);
# SETTLE_MAX (900: longest wait, after the queue drained, for the chain
# follower to reach the node's tip and every pool block to mature);
# KILL_SIGNAL (TERM; KILL for kill -9); BLOCK_TIME (3s); MATURITY (10);
# SHARE_DIFF (2000); SHARES_PER_BLOCK (16: network difficulty in shares);
# MINERS (4); SHARE_INTERVAL (1s); SEED (12, the simnode's);
# PG (postgres://postgres@127.0.0.1:5432); AMQP_ADMIN
# (amqp://guest:guest@127.0.0.1:5672/); RUN_ID.
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BINARY OUTDIR" >&2
	exit 2
fi
BIN=$(readlink -f "$1")
mkdir -p "$2"
OUT=$(readlink -f "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

WARMUP=${WARMUP:-60} OUTAGE=${OUTAGE:-60} AFTER=${AFTER:-60} SETTLE_MAX=${SETTLE_MAX:-900}
KILL_SIGNAL=${KILL_SIGNAL:-TERM}
BLOCK_TIME=${BLOCK_TIME:-3s} MATURITY=${MATURITY:-10}
SHARE_DIFF=${SHARE_DIFF:-2000} SHARES_PER_BLOCK=${SHARES_PER_BLOCK:-16}
MINERS=${MINERS:-4} SHARE_INTERVAL=${SHARE_INTERVAL:-1s} SEED=${SEED:-12}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
AMQP_ADMIN=${AMQP_ADMIN:-amqp://guest:guest@127.0.0.1:5672/}
RUN_ID=${RUN_ID:-$(date -u +%Y%m%d%H%M%S)$$}
NET=test
DB=ppfair_$RUN_ID
VHOST=ppfair-$RUN_ID
FE_USER=ppfair-frontend-$RUN_ID BE_USER=ppfair-backend-$RUN_ID
FE_PASS=fp$RUN_ID BE_PASS=bp$RUN_ID
RPC_USER=ppfair RPC_PASS=ppfair
PGH=${PG#postgres://*@} # host:port

log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/outage.log"; }
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

declare -A PIDS=()
# stop NAME: SIGTERM, then SIGKILL after 20 s; only the process we started.
stop() {
	local name=$1 pid=${PIDS[$1]:-}
	[[ -z $pid ]] && return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$name]"
}
cleanup() {
	local n
	for n in "${!PIDS[@]}"; do stop "$n"; done
	if [[ ${KEEP_BROKER:-0} != 1 ]]; then
		rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true
		rabbitmqctl -q delete_user "$FE_USER" >/dev/null 2>&1 || true
		rabbitmqctl -q delete_user "$BE_USER" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # start NAME ARGS… (output to OUT/NAME.log)
	local name=$1
	shift
	"$@" >>"$OUT/$name.log" 2>&1 &
	PIDS[$name]=$!
}

# miner_ok: the sum over the miners' latest reports of shares answered ok
# (submitted − pool errors − transport failures).
miner_ok() {
	local total=0 i line
	for i in $(seq 0 $((MINERS - 1))); do
		line=$(grep '^simminer: ' "$OUT/miner$i.log" | tail -1 || true)
		[[ -z $line ]] && continue
		total=$((total + $(awk '{
			match($0, /([0-9]+) shares,/, s); match($0, /, ([0-9]+) failed;/, f)
			e = 0; rest = substr($0, index($0, "pool errors map[") + 16)
			while (match(rest, /:([0-9]+)[] ]/, m)) { e += m[1]; rest = substr(rest, RSTART + RLENGTH) }
			print s[1] - f[1] - e }' <<<"$line")))
	done
	echo "$total"
}

queue_len() {
	rabbitmqctl -q list_queues -p "$VHOST" name messages 2>/dev/null | awk '$1 == "purepool.commands.q" { print $2 }'
}

load() { echo "$(cut -d' ' -f1-3 /proc/loadavg) (cores $(nproc))"; }

log "binary $BIN ($("$BIN" version 2>&1)); run $RUN_ID; out $OUT; load $(load)"
mkdir -p "$OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/fairreport" ./internal/fairreport/cmd/fairreport && go build -o "$OUT/bin/fairenv" ./internal/fairreport/cmd/fairenv)

TARGET=$("$OUT/bin/fairenv" target "$SHARE_DIFF")
BT_MS=$(python3 -c "import sys,re; m=re.fullmatch(r'([0-9.]+)(ms|s)', sys.argv[1]); print(int(float(m[1])*(1 if m[2]=='ms' else 1000)))" "$BLOCK_TIME")
HASHRATE=$((SHARE_DIFF * SHARES_PER_BLOCK * 1000 / BT_MS)) # network difficulty = hash rate × block time
NODE_PORT=$(freeport) FE_PORT=$(freeport)
STORE_SUPER="$PG/$DB?sslmode=disable"
pgurl() { echo "postgres://$1@$PGH/$DB?sslmode=disable"; }

log "database $DB, vhost $VHOST, node 127.0.0.1:$NODE_PORT, frontend 127.0.0.1:$FE_PORT, target $TARGET, network hash rate $HASHRATE"
psql "$PG/postgres?sslmode=disable" -qAtc "CREATE DATABASE $DB" >>"$OUT/outage.log"
"$BIN" migrate --store "$STORE_SUPER" >>"$OUT/outage.log" 2>&1
PUREPOOL_AMQP_FRONTEND_PASSWORD=$FE_PASS PUREPOOL_AMQP_BACKEND_PASSWORD=$BE_PASS \
	"$BIN" setup -pg "$STORE_SUPER" -amqp "$AMQP_ADMIN" -amqp-vhost "$VHOST" \
	-amqp-frontend-user "$FE_USER" -amqp-backend-user "$BE_USER" \
	-pg-backend-role ppfair_backend -pg-projector-role ppfair_projector -pg-frontend-role ppfair_frontend \
	>>"$OUT/outage.log" 2>&1

start simnode "$BIN" simnode -network "$NET" -listen "127.0.0.1:$NODE_PORT" -blocktime "$BLOCK_TIME" -hashrate "$HASHRATE" \
	-maturity "$MATURITY" -seed "$SEED" -rpcuser "$RPC_USER" -rpcpassword "$RPC_PASS" -state "$OUT/simnode.json"
for _ in $(seq 100); do grep -q 'wallet (pool) address' "$OUT/simnode.log" 2>/dev/null && break; sleep 0.1; done
POOL=$(sed -n 's/.*wallet (pool) address \([^,]*\),.*/\1/p' "$OUT/simnode.log" | head -1)
[[ -n $POOL ]] || { log "simnode did not start"; exit 1; }
log "pool address $POOL"

BACKEND_ARGS=(backend -store "$(pgurl ppfair_backend)" -amqp-url "amqp://$BE_USER:$BE_PASS@127.0.0.1:5672/$VHOST"
	-network "$NET" -pool-address "$POOL" -node-url "http://127.0.0.1:$NODE_PORT" -node-user "$RPC_USER" -node-password "$RPC_PASS"
	-fee-bps 100 -scheme PROP -maturity "$MATURITY" -stale-tolerance 1 -default-target "$TARGET" -vardiff-window 0
	-follow-from 1 -poll-interval 500ms -payout-interval 0 -log-format text)
start backend "$BIN" "${BACKEND_ARGS[@]}"
start projector "$BIN" projector -store "$(pgurl ppfair_projector)" -readmodel-url "$(pgurl ppfair_projector)" \
	-frontend-role ppfair_frontend -log-format text
start frontend "$BIN" frontend -listen "127.0.0.1:$FE_PORT" -amqp-url "amqp://$FE_USER:$FE_PASS@127.0.0.1:5672/$VHOST" \
	-readmodel-url "$(pgurl ppfair_frontend)" -pool-address "$NET=$POOL" -default-target "$NET=$TARGET" \
	-pool-url http://127.0.0.1 -rate-limit -1 -log-format text
for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$FE_PORT/" && break; sleep 0.1; done
sleep 3 # the projector's first views
for i in $(seq 0 $((MINERS - 1))); do
	start "miner$i" "$BIN" simminer -pool "http://127.0.0.1:$FE_PORT" -worker "$("$OUT/bin/fairenv" address "$NET" "$i")/rig$i" \
		-network "$NET" -node "http://127.0.0.1:$NODE_PORT" -rpcuser "$RPC_USER" -rpcpassword "$RPC_PASS" \
		-shareinterval "$SHARE_INTERVAL" -workinterval "$SHARE_INTERVAL" -report 1s
done
T_START=$(now)
log "miners started; warm-up ${WARMUP}s; load $(load)"
sleep "$WARMUP"

OK0=$(miner_ok)
T_KILL=$(now)
log "stopping the backend (SIG$KILL_SIGNAL) at $T_KILL; miners' ok so far $OK0; load $(load)"
kill "-$KILL_SIGNAL" "${PIDS[backend]}"
wait "${PIDS[backend]}" 2>/dev/null || true
unset "PIDS[backend]"
# rabbitmqctl takes seconds: sample the backlog shortly before the restart.
(sleep $((OUTAGE > 10 ? OUTAGE - 10 : 0)); queue_len >"$OUT/queue-before-restart.txt") &
QPID=$!
PIDS[qsample]=$QPID
sleep "$OUTAGE"
OK1=$(miner_ok)
T_RESTART=$(now)
start backend2 "$BIN" "${BACKEND_ARGS[@]}"
wait "$QPID" || true
unset "PIDS[qsample]"
log "restarted the backend at $T_RESTART; miners' ok during the outage $((OK1 - OK0)); queue 10 s before the restart $(cat "$OUT/queue-before-restart.txt"); load $(load)"
sleep "$AFTER"
log "stopping the miners; queue $(queue_len); load $(load)"
for i in $(seq 0 $((MINERS - 1))); do stop "miner$i"; done
T_MINERS_STOP=$(now)
for _ in $(seq 600); do [[ $(queue_len) == 0 ]] && break; sleep 1; done
log "queue drained ($(queue_len)); waiting (at most ${SETTLE_MAX}s) until the follower has recorded the node's tip and every pool block matured"
STORE="$(pgurl postgres)"
node_tip() {
	curl -fs --user "$RPC_USER:$RPC_PASS" -H 'Content-Type: application/json' \
		-d '{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}' "http://127.0.0.1:$NODE_PORT/" | jq -r .result
}
SETTLE_END=$((SECONDS + SETTLE_MAX))
while :; do
	TIP=$(node_tip)
	read -r REC PENDING < <("$OUT/bin/fairreport" -json "$STORE" | jq -r '(.networks[0].recorded_tip // 0 | tostring) + " " + (.networks[0].pending_blocks // 0 | tostring)')
	if ((REC >= TIP && PENDING == 0)); then
		log "settled: node tip $TIP, recorded $REC, pending pool blocks 0"
		break
	fi
	if ((SECONDS >= SETTLE_END)); then
		log "NOT settled after ${SETTLE_MAX}s: node tip $TIP, recorded $REC, pending pool blocks $PENDING (figures below are partial)"
		break
	fi
	sleep 5
done
"$OUT/bin/fairreport" -from "$T_KILL" -to "$T_RESTART" "$STORE" | tee "$OUT/fairreport.txt"
"$OUT/bin/fairreport" -json -from "$T_KILL" -to "$T_RESTART" "$STORE" >"$OUT/fairreport.json"
"$BIN" audit --store "$STORE" >"$OUT/audit.txt" 2>&1 && AUDIT=clean || AUDIT="exit $?"
log "audit: $AUDIT (audit.txt)"
cat >"$OUT/summary.txt" <<EOF
binary:            $BIN ($("$BIN" version 2>&1))
store:             $STORE
miners started:    $T_START
backend stopped:   $T_KILL (SIG$KILL_SIGNAL)
backend restarted: $T_RESTART
miners stopped:    $T_MINERS_STOP
ok during outage (miners' reports, ±1 s): $((OK1 - OK0))
audit:             $AUDIT
EOF
cat "$OUT/summary.txt"
log "done; load $(load)"
