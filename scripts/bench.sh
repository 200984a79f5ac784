#!/usr/bin/env bash
# The standard throughput matrix: both 1M-line benchmark logs, 1 and 2 parsing workers, with the CrowdSec hub
# files of the shared corpus and (when CrowdSec is installed) with the YAML installed in /etc/crowdsec; optionally
# CrowdSec itself on the same files, for the ratio and the alert comparison. Prints one markdown table per part.
#
# usage: scripts/bench.sh [--crowdsec] [--quick]
#   --crowdsec   also replay the files through the installed CrowdSec (../shared/crowdsec-baseline/README.md:
#                setup.sh installs crowdsec 1.4.6 offline) and compare: sshd on the whole auth.log, nginx on its
#                first $CS_NGINX_LINES lines (CrowdSec runs ~220 lines/s there; 1M lines would take 75 minutes);
#                the ratio uses the median of three Correlator runs: the matrix's, one just before CrowdSec's, one
#                just after
#   --quick      100,000-line prefixes instead of the 1M-line files (a smoke run)
# env: SHARED (default ../shared), BENCH_DIR (default /tmp/correlator-bench), CS_NGINX_LINES (default 50000),
#      CSBASE (default /var/tmp/cs-baseline)
#
# Throughput is lines / elapsed wall time as `correlator replay` reports it (startup included); peak RSS from the
# same summary. Nothing here is a test: timings depend on the machine and its load.
set -euo pipefail

cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(cd ../shared && pwd)}
BENCH_DIR=${BENCH_DIR:-/tmp/correlator-bench}
CS_NGINX_LINES=${CS_NGINX_LINES:-50000}
CSBASE=${CSBASE:-/var/tmp/cs-baseline}
CROWDSEC=0
QUICK=0
for a in "$@"; do
  case $a in
    --crowdsec) CROWDSEC=1 ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

mkdir -p "$BENCH_DIR"
if [ ! -s "$BENCH_DIR/auth.log" ] || [ ! -s "$BENCH_DIR/access.log" ]; then
  echo "generating the benchmark logs in $BENCH_DIR ..." >&2
  # gen.py deletes full outputs over --max-bytes (200 MiB by default); the two logs are ~326 MB.
  python3 "$SHARED/bench/gen.py" --out "$BENCH_DIR" --max-bytes $((1 << 40)) >&2
fi
AUTH=$BENCH_DIR/auth.log
ACCESS=$BENCH_DIR/access.log
if [ "$QUICK" = 1 ]; then
  head -100000 "$BENCH_DIR/auth.log" > "$BENCH_DIR/auth-100k.log"
  head -100000 "$BENCH_DIR/access.log" > "$BENCH_DIR/access-100k.log"
  AUTH=$BENCH_DIR/auth-100k.log
  ACCESS=$BENCH_DIR/access-100k.log
fi

cargo build --release --quiet
BIN=target/release/correlator
H=$SHARED/hubtests
HUB_ARGS=(--hub "$H/hub" --patterns "$H/patterns-base" --patterns "$H/patterns" --data "$H/data" --year 2026)
SSHD_ITEMS=(--parsers 'crowdsecurity/syslog-logs,crowdsecurity/sshd-logs,crowdsecurity/dateparse-enrich'
  --scenarios 'crowdsecurity/ssh-bf,crowdsecurity/ssh-slow-bf')
HTTP_ITEMS=(--parsers 'crowdsecurity/syslog-logs,crowdsecurity/nginx-logs,crowdsecurity/http-logs,crowdsecurity/dateparse-enrich'
  --scenarios 'crowdsecurity/http-*')
INSTALLED_ARGS=(--hub /etc/crowdsec --patterns /etc/crowdsec/patterns --data /var/lib/crowdsec/data --year 2026)

# run NAME FILE TYPE WORKERS ARGS... -> appends a row to $ROWS, keeps the alerts in $BENCH_DIR/out/NAME-wN.txt
ROWS=()
declare -A LPS
run() {
  local name=$1 file=$2 type=$3 workers=$4
  shift 4
  mkdir -p "$BENCH_DIR/out"
  local out=$BENCH_DIR/out/$name-w$workers.txt err=$BENCH_DIR/out/$name-w$workers.err
  "$BIN" replay "$@" --type "$type" --workers "$workers" "$file" > "$out" 2> "$err"
  local lines lps rss alerts per
  lines=$(sed -n 's/^lines read: \([0-9]*\).*/\1/p' "$err")
  lps=$(sed -n 's/^elapsed: .*  \([0-9]*\) lines\/s.*/\1/p' "$err")
  rss=$(sed -n 's/.*peak RSS: \(.*\)$/\1/p' "$err")
  alerts=$(sed -n 's/^alerts: \([0-9]*\).*/\1/p' "$err")
  per=$(awk '/^ +[0-9]+  /{sub("crowdsecurity/","",$2); printf "%s%s %s", sep, $2, $1; sep=", "}' "$err")
  LPS[$name-w$workers]=$lps
  ROWS+=("| $name | $(basename "$file") | $workers | $lines | $lps | $rss | $alerts | $per |")
}

run sshd-hub "$AUTH" syslog 1 "${HUB_ARGS[@]}" "${SSHD_ITEMS[@]}"
run sshd-hub "$AUTH" syslog 2 "${HUB_ARGS[@]}" "${SSHD_ITEMS[@]}"
run nginx-hub "$ACCESS" nginx 1 "${HUB_ARGS[@]}" "${HTTP_ITEMS[@]}"
run nginx-hub "$ACCESS" nginx 2 "${HUB_ARGS[@]}" "${HTTP_ITEMS[@]}"
if [ -d /etc/crowdsec/parsers ]; then
  run sshd-installed "$AUTH" syslog 1 "${INSTALLED_ARGS[@]}"
  run sshd-installed "$AUTH" syslog 2 "${INSTALLED_ARGS[@]}"
  run nginx-installed "$ACCESS" nginx 1 "${INSTALLED_ARGS[@]}"
  run nginx-installed "$ACCESS" nginx 2 "${INSTALLED_ARGS[@]}"
fi

echo
echo "## Correlator ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
echo
echo "| run | file | workers | lines | lines/s | peak RSS | alerts | alerts per scenario |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"

if [ "$CROWDSEC" = 1 ]; then
  command -v crowdsec > /dev/null || { echo "crowdsec is not installed (see $SHARED/crowdsec-baseline)" >&2; exit 1; }
  [ -x "$CSBASE/run_crowdsec_bench.sh" ] || { mkdir -p "$CSBASE"; cp -rn "$SHARED/crowdsec-baseline/." "$CSBASE/"; }
  NGINX_CS=$BENCH_DIR/access-$CS_NGINX_LINES.log
  head -"$CS_NGINX_LINES" "$BENCH_DIR/access.log" > "$NGINX_CS"
  # Correlator on the very file CrowdSec gets, for the alert comparison.
  ROWS=()
  run nginx-installed-cs-prefix "$NGINX_CS" nginx 2 "${INSTALLED_ARGS[@]}"
  CS_ROWS=()
  # lines/s of one more Correlator run: FILE TYPE WORKERS ARGS...
  again() {
    local file=$1 type=$2 workers=$3
    shift 3
    "$BIN" replay "$@" --type "$type" --workers "$workers" "$file" 2>&1 > /dev/null |
      sed -n 's/^elapsed: .*  \([0-9]*\) lines\/s.*/\1/p'
  }
  cs() {
    # ours: the Correlator run quoted for the ratio (run again just before and just after CrowdSec, the ratio
    # taking the median of the three, so that a slow or fast spell of the machine during one run does not decide
    # it); alerts_of: the one whose alerts are compared (same file); then the file, type and workers of `ours`.
    local name=$1 file=$2 type=$3 ours=$4 alerts_of=$5 ofile=$6 otype=$7 oworkers=$8 dir=$CSBASE/results/bench-$1
    rm -rf "$dir"
    local before after
    before=$(again "$ofile" "$otype" "$oworkers" "${INSTALLED_ARGS[@]}")
    "$CSBASE/run_crowdsec_bench.sh" "$file" "$type" "$dir" > "$dir.summary" 2>&1 || true
    after=$(again "$ofile" "$otype" "$oworkers" "${INSTALLED_ARGS[@]}")
    local lps rss alerts
    lps=$(sed -n 's/^lines\/sec: *\([0-9]*\).*/\1/p' "$dir.summary")
    rss=$(sed -n 's/^peak_rss_mb: *\([0-9.]*\).*/\1 MB/p' "$dir.summary")
    alerts=$(sed -n 's/^alerts: *\([0-9]*\).*/\1/p' "$dir.summary")
    local median ratio
    median=$(printf '%s\n' "${LPS[$ours]}" "$before" "$after" | sort -n | sed -n 2p)
    ratio=$(awk -v a="$median" -v b="$lps" 'BEGIN{ if (b > 0) printf "%.0f×", a / b; else print "n/a" }')
    CS_ROWS+=("| $name | $(basename "$file") | $lps | $rss | $alerts | $median ($ours: median of ${LPS[$ours]}, $before just before, $after just after) | $ratio |")
    echo "### alerts: $name (Correlator $ours vs CrowdSec)"
    python3 scripts/compare-alerts.py "$BENCH_DIR/out/$alerts_of.txt" "$dir/crowdsec.log" --show 3
  }
  echo
  cs sshd "$AUTH" syslog sshd-installed-w2 sshd-installed-w2 "$AUTH" syslog 2
  # The ratio uses Correlator on the whole file (its startup amortised like CrowdSec's, which is not counted).
  cs nginx "$NGINX_CS" nginx nginx-installed-w2 nginx-installed-cs-prefix-w2 "$ACCESS" nginx 2
  echo
  echo "## CrowdSec 1.4.6 on the same files and YAML (/etc/crowdsec)"
  echo
  echo "| run | file | CrowdSec lines/s | CrowdSec peak RSS | CrowdSec alerts | Correlator lines/s | ratio |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${CS_ROWS[@]}"
fi
