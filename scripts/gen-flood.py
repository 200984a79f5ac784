#!/usr/bin/env python3
"""Writes an sshd auth.log in which N distinct public addresses each fail one password: the shape of a
distributed brute force, where every source opens a bucket in every ssh scenario and none overflows. Replaying it
measures what live bucket instances cost (docs/performance.md, "Memory").

usage: scripts/gen-flood.py [--sources N] [--per-second R] OUT
  --sources N      distinct source addresses, one line each (default 1,000,000)
  --per-second R   lines per second of log time (default 200,000: 1M sources in 5 s, so that every bucket of
                   crowdsecurity/ssh-bf, leakspeed 10s, is still live at the end)
Deterministic: the same arguments give the same file.
"""
import argparse
import ipaddress

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("out")
p.add_argument("--sources", type=int, default=1_000_000)
p.add_argument("--per-second", type=int, default=200_000)
a = p.parse_args()
# 23.0.0.0 upward in steps of 7: public addresses, none in the private ranges the hub's whitelists drop.
base = int(ipaddress.IPv4Address("23.0.0.0"))
with open(a.out, "w") as f:
    for i in range(a.sources):
        s = i // a.per_second
        ts = f"Mar  2 {s // 3600:02}:{s // 60 % 60:02}:{s % 60:02}"
        ip = ipaddress.IPv4Address(base + i * 7)
        f.write(f"{ts} srv-web-01 sshd[{1000 + i % 50000}]: Failed password for invalid user admin "
                f"from {ip} port {20000 + i % 40000} ssh2\n")
