#!/usr/bin/env bash
# Interleaved A/B timing of several correlator binaries on one log: each round runs every binary once, in turn, so
# that a slow spell of the machine hits all of them alike. Prints, per binary, the fastest and the mean wall time
# and the mean user time over the rounds. For changes too small to see in single runs of scripts/bench.sh.
#
# usage: scripts/ab.sh LOG TYPE WORKERS ROUNDS BINARY...
#   e.g. git stash; cargo build --release; cp target/release/correlator /tmp/before; git stash pop;
#        cargo build --release; scripts/ab.sh /tmp/bench/auth.log syslog 2 5 /tmp/before target/release/correlator
# env: HUB (default /etc/crowdsec), PATTERNS (default $HUB/patterns), DATA (default /var/lib/crowdsec/data)
set -euo pipefail
if [ $# -lt 5 ]; then sed -n '2,10p' "$0"; exit 2; fi
log=$1 type=$2 workers=$3 rounds=$4
shift 4
HUB=${HUB:-/etc/crowdsec}
PATTERNS=${PATTERNS:-$HUB/patterns}
DATA=${DATA:-/var/lib/crowdsec/data}
for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    /usr/bin/time -f "$bin %e %U" "$bin" replay -q --hub "$HUB" --patterns "$PATTERNS" --data "$DATA" \
      -w "$workers" --type "$type" "$log" 2>&1 >/dev/null | tail -n 1
  done
done | awk '{ k = $1; if (!(k in min) || $2 < min[k]) min[k] = $2; s[k] += $2; u[k] += $3; c[k]++ }
  END { for (k in min) printf "%s: fastest %.3f s, mean %.3f s, mean user %.3f s over %d runs\n", k, min[k], s[k] / c[k], u[k] / c[k], c[k] }'
