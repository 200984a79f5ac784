#!/usr/bin/env python3
"""Compares the alerts of a Correlator replay with those of a CrowdSec replay of the same file.

usage: compare-alerts.py CORRELATOR_OUTPUT CROWDSEC_LOG [--show N]

Both sides are read from the overflow message CrowdSec logs and `correlator replay` prints (text format):
"Ip 1.2.3.4 performed 'crowdsecurity/ssh-bf' (6 events over 6s) at 2026-03-02 00:04:49 +0000 UTC".
Each alert is keyed by (scenario, source, events, duration, time); the script prints the counts per scenario on
each side, how many alerts are on both, and the alerts found on one side only (first N of each).
"""
import collections
import re
import sys

MSG = re.compile(r"(\w+ \S+) performed '([^']+)' \((\d+) events over ([^)]+)\) at (.+? UTC)")


def alerts(path):
    out = collections.Counter()
    with open(path, errors="replace") as f:
        for line in f:
            m = MSG.search(line)
            if m:
                src, scenario, n, dur, at = m.groups()
                out[(scenario, src, int(n), dur, at)] += 1
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    show = int(sys.argv[sys.argv.index("--show") + 1]) if "--show" in sys.argv else 5
    ours, theirs = alerts(sys.argv[1]), alerts(sys.argv[2])
    per = collections.defaultdict(lambda: [0, 0])
    for k, v in ours.items():
        per[k[0]][0] += v
    for k, v in theirs.items():
        per[k[0]][1] += v
    print(f"{'scenario':45} {'correlator':>10} {'crowdsec':>10}")
    for s in sorted(per):
        print(f"{s:45} {per[s][0]:>10} {per[s][1]:>10}")
    both = sum((ours & theirs).values())
    only_ours, only_theirs = ours - theirs, theirs - ours
    print(f"total: correlator {sum(ours.values())}, crowdsec {sum(theirs.values())}, identical {both}, "
          f"correlator only {sum(only_ours.values())}, crowdsec only {sum(only_theirs.values())}")
    for name, diff in (("correlator only", only_ours), ("crowdsec only", only_theirs)):
        for k in sorted(diff)[:show]:
            print(f"  {name}: {k[1]} {k[0]} ({k[2]} events over {k[3]}) at {k[4]}")


if __name__ == "__main__":
    main()
