#!/usr/bin/env python3
"""Writes the sample logs shipped in samples/ (what `cargo run --release` replays on shipped defaults).

Deterministic (fixed seed, fixed start time): re-running it reproduces the committed files byte for byte, so the
end-to-end tests that check alerts on them stay meaningful. The content is small on purpose: a newcomer's first
run should take well under a second and show a handful of alerts next to plenty of benign traffic.

  samples/auth.log    sshd syslog: logins and sessions of regular users, one password typo here and there,
                      plus a fast brute force, a user enumeration, a slow brute force and a key-exchange scanner.
  samples/access.log  nginx combined log: browsing, static files, a crawler, plus a 404 scanner, a sensitive-file
                      prober and a scanner with a known bad user agent.
  samples/truth.tsv   which source did what (attackers and benign), read by the tests.

Usage: python3 scripts/gen-samples.py [--out samples]
"""
import argparse
import datetime as dt
import os
import random

SEED = 20261123
START = dt.datetime(2026, 3, 2, 8, 0, 0)
HOST = "web-01"

BENIGN_USERS = ["alice", "bob", "carol", "deploy", "backup", "git"]
BENIGN_SSH_IPS = ["198.51.100.%d" % i for i in range(10, 22)] + ["2001:db8:1::%x" % i for i in (0x10, 0x11)]
ATTACK = {
    "bf": "203.0.113.7",
    "enum": "203.0.113.45",
    "slow": "192.0.2.99",
    "kex": "192.0.2.150",
}
ENUM_USERS = ["admin", "oracle", "test", "postgres", "ubuntu", "guest", "ftp", "pi", "nagios", "www"]
BF_USERS = ["root"]

BENIGN_WEB_IPS = ["198.51.100.%d" % i for i in range(40, 70)]
WEB_ATTACK = {"probe": "203.0.113.80", "sensitive": "203.0.113.81", "badua": "203.0.113.82"}
PAGES = ["/", "/products", "/products/42", "/cart", "/search?q=shoes", "/about", "/contact", "/blog/hello-world"]
STATIC = ["/static/app.css", "/static/app.js", "/static/img/logo.png", "/favicon.ico"]
UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
]
PROBE_PATHS = ["/wp-admin/setup.php", "/phpmyadmin/", "/admin.php", "/old/", "/test.php", "/backup/", "/cgi-bin/luci",
               "/mysql/admin/", "/pma/", "/wp/", "/shell.php", "/manager/html", "/jenkins/", "/solr/", "/xmlrpc.php"]
SENSITIVE_PATHS = ["/.env", "/.git/config", "/.aws/credentials", "/backup.sql", "/config.php.bak", "/.htpasswd"]
BAD_UA = "Nikto/2.5.0"


def syslog_ts(t):
    return t.strftime("%b ") + ("%2d" % t.day) + t.strftime(" %H:%M:%S")


class Writer:
    def __init__(self):
        self.rows = []

    def add(self, t, line):
        self.rows.append((t, len(self.rows), line))

    def lines(self):
        return [line for _, _, line in sorted(self.rows)]


def auth_log(rng):
    w = Writer()
    pid = [4000]

    def sshd(t, msg, p=None):
        w.add(t, "%s %s sshd[%d]: %s" % (syslog_ts(t), HOST, p if p is not None else pid[0], msg))

    def next_pid():
        pid[0] += rng.randint(3, 40)
        return pid[0]

    # Regular users: log in, work, log out; an occasional typo first.
    t = START
    for i in range(60):
        t += dt.timedelta(seconds=rng.randint(60, 600))
        user = rng.choice(BENIGN_USERS)
        ip = rng.choice(BENIGN_SSH_IPS)
        port = rng.randint(40000, 65000)
        p = next_pid()
        if rng.random() < 0.2:
            sshd(t, "Failed password for %s from %s port %d ssh2" % (user, ip, port), p)
            t += dt.timedelta(seconds=rng.randint(3, 9))
        method = rng.choice(["publickey", "password"])
        sshd(t, "Accepted %s for %s from %s port %d ssh2" % (method, user, ip, port), p)
        sshd(t, "pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)" % (user, 1000 + BENIGN_USERS.index(user)), p)
        w.add(t, "%s %s systemd-logind[612]: New session %d of user %s." % (syslog_ts(t), HOST, 100 + i, user))
        end = t + dt.timedelta(seconds=rng.randint(30, 3000))
        sshd(end, "Received disconnect from %s port %d:11: disconnected by user" % (ip, port), p)
        sshd(end, "Disconnected from user %s %s port %d" % (user, ip, port), p)
        sshd(end, "pam_unix(sshd:session): session closed for user %s" % user, p)
        if rng.random() < 0.3:
            w.add(end, "%s %s CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)" % (syslog_ts(end), HOST, next_pid()))

    # Fast brute force on root: 3 bursts of 12 attempts, 1-2 s apart.
    t = START + dt.timedelta(minutes=45)
    for burst in range(3):
        for _ in range(12):
            t += dt.timedelta(seconds=rng.randint(1, 2))
            p = next_pid()
            port = rng.randint(30000, 60000)
            sshd(t, "Failed password for root from %s port %d ssh2" % (ATTACK["bf"], port), p)
            sshd(t, "Connection closed by authenticating user root %s port %d [preauth]" % (ATTACK["bf"], port), p)
        t += dt.timedelta(minutes=30)

    # User enumeration: a new user name every 2-4 s.
    t = START + dt.timedelta(minutes=100)
    for user in ENUM_USERS:
        t += dt.timedelta(seconds=rng.randint(2, 4))
        p = next_pid()
        port = rng.randint(30000, 60000)
        sshd(t, "Invalid user %s from %s port %d" % (user, ATTACK["enum"], port), p)
        sshd(t, "Failed password for invalid user %s from %s port %d ssh2" % (user, ATTACK["enum"], port), p)

    # Slow brute force: one try every 25-45 s for a while (stays under the fast scenario).
    t = START + dt.timedelta(minutes=150)
    for _ in range(30):
        t += dt.timedelta(seconds=rng.randint(25, 45))
        sshd(t, "Failed password for admin from %s port %d ssh2" % (ATTACK["slow"], rng.randint(30000, 60000)), next_pid())

    # Key-exchange scanner.
    t = START + dt.timedelta(minutes=200)
    for _ in range(8):
        t += dt.timedelta(seconds=rng.randint(5, 15))
        sshd(t, "Unable to negotiate with %s port %d: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]"
             % (ATTACK["kex"], rng.randint(30000, 60000)), next_pid())
    return w.lines()


def access_log(rng):
    w = Writer()

    def req(t, ip, method, path, status, size, ua, ref="-"):
        stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
        w.add(t, '%s - - [%s] "%s %s HTTP/1.1" %d %d "%s" "%s"' % (ip, stamp, method, path, status, size, ref, ua))

    t = START
    for _ in range(300):
        t += dt.timedelta(seconds=rng.randint(1, 30))
        ip = rng.choice(BENIGN_WEB_IPS)
        ua = rng.choice(UAS)
        page = rng.choice(PAGES)
        status = 200 if rng.random() > 0.03 else 404
        req(t, ip, "GET", page, status, rng.randint(800, 40000), ua)
        for s in rng.sample(STATIC, 2):
            req(t, ip, "GET", s, 200, rng.randint(200, 90000), ua, "https://www.example.org" + page)

    t = START + dt.timedelta(minutes=20)
    for path in PROBE_PATHS:
        t += dt.timedelta(seconds=1)
        req(t, WEB_ATTACK["probe"], "GET", path, 404, 153, "Mozilla/5.0 (compatible; scanner)")
    t = START + dt.timedelta(minutes=40)
    for path in SENSITIVE_PATHS:
        t += dt.timedelta(seconds=2)
        req(t, WEB_ATTACK["sensitive"], "GET", path, 404, 153, rng.choice(UAS))
    t = START + dt.timedelta(minutes=60)
    for path in ["/", "/index.html", "/robots.txt"]:
        t += dt.timedelta(seconds=1)
        req(t, WEB_ATTACK["badua"], "GET", path, 200, 512, BAD_UA)
    return w.lines()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "samples"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(SEED)
    with open(os.path.join(args.out, "auth.log"), "w") as f:
        f.write("\n".join(auth_log(rng)) + "\n")
    with open(os.path.join(args.out, "access.log"), "w") as f:
        f.write("\n".join(access_log(rng)) + "\n")
    with open(os.path.join(args.out, "truth.tsv"), "w") as f:
        f.write("log\tip\tbehaviour\n")
        for k, ip in ATTACK.items():
            f.write("auth.log\t%s\t%s\n" % (ip, k))
        for ip in BENIGN_SSH_IPS:
            f.write("auth.log\t%s\tbenign\n" % ip)
        for k, ip in WEB_ATTACK.items():
            f.write("access.log\t%s\t%s\n" % (ip, k))
        for ip in BENIGN_WEB_IPS:
            f.write("access.log\t%s\tbenign\n" % ip)


if __name__ == "__main__":
    main()
