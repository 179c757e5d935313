#!/usr/bin/env bash
# shoal's queue beside its peers in one sitting, on one PostgreSQL server:
#   (A) raw SQL claim + complete under pgbench (the peers kit's claim1 and claim10),
#   (Q) pgqueuer draining with one job and with ten jobs per dequeue,
#   (S) bench/queue_layer.py: shoal's queue layer, one and ten jobs per claim, beside pgbench
#       on shoal's own statements,
# each at 1, 4 and 16 connections, ROUNDS times in turn (medians in the tables).
#
#   bench/with_peers.sh [PEERS_KIT]      (default: ../shared/peers beside the repository)
#   env: ROUNDS (3), DURATION (pgbench seconds, 10), JOBS (jobs per drain, 10000)
#
# The kit is copied to a scratch directory (it writes its results beside itself); its
# virtualenv and server live in $PEERS_HOME as the kit sets them up.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kit=$(cd "${1:-$repo/../shared/peers}" && pwd)
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; JOBS=${JOBS:-10000}
export ATTEMPT_TRIES=${ATTEMPT_TRIES:-1}  # the kit's redo of a disturbed run: off, rounds instead
work=$(mktemp -d -t shoal-peers-XXXX)
cp -r "$kit"/. "$work"/ && chmod -R u+w "$work"
cd "$work"
# The kit redoes a run disturbed by other work up to 3 times; here rounds stand in for that.
sed -i 's/def attempt(fn, tries=3,/def attempt(fn, tries=int(os.environ.get("ATTEMPT_TRIES", "3")),/' common.py
[ -x "${PEERS_HOME:-$HOME/.cache/shoal-peers}/venv/bin/python" ] || bash setup_venv.sh
. ./env.sh
$PY server.py start >/dev/null
. ./env.sh
trap '$PY server.py stop >/dev/null' EXIT
mkdir -p results
$PY - <<'EOF'
import os, psycopg
with psycopg.connect(os.environ["BENCH_URI"], autocommit=True) as c:
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'shoal_bench'").fetchone():
        c.execute("CREATE DATABASE shoal_bench")
EOF
shoal_url=${BENCH_URI/\/postgres\?//shoal_bench?}
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round, $(date -u +%T), $(cut -d' ' -f1-3 /proc/loadavg)"
  $PY bench_a.py --only A2,A2b --runs 1 --duration "$DURATION" --out "results/a-$round.json" \
    > "results/a-$round.log" 2>&1; grep '^==' "results/a-$round.log"
  $PY bench_c_pgqueuer.py --only process --shapes qm_b1,qm_b10 --runs 1 --jobs "$JOBS" \
    --out "results/c-$round.json" > "results/c-$round.log" 2>&1; grep '^C process' "results/c-$round.log"
  DATABASE_URL="$shoal_url" "$repo/.venv/bin/python" "$repo/bench/queue_layer.py" \
    --jobs "$JOBS" --rounds 1 --batch 10
done
echo "peers' raw numbers: $work/results"
