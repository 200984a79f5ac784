"""Drives pycrowdsec (CrowdSec's Python bouncer library, unmodified) for tests/lapi_bouncer.rs.

Reads one command per line on stdin, answers one JSON line on stdout:
  pull          -> StreamClient cycle (startup on the first call); {"decisions": {network: type}}
  query IP      -> QueryClient.get_decisions_for(IP); {"decisions": [...] or null}
  action IP     -> StreamClient cache lookup (IP-in-range matching done by pycrowdsec); {"action": type or null}
"""
import json
import logging
import sys

from pycrowdsec.client import QueryClient, StreamClient

url, key = sys.argv[1], sys.argv[2]
stream = StreamClient(api_key=key, lapi_url=url, interval=3600)
query = QueryClient(api_key=key, lapi_url=url)
first = True


class Errors(logging.Handler):
    """cycle() logs request errors instead of raising them (after the first call): collect them."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.seen = []

    def emit(self, record):
        self.seen.append(record.getMessage())


errors = Errors()
logging.getLogger("pycrowdsec.client").addHandler(errors)

for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    try:
        if cmd[0] == "pull":
            errors.seen.clear()
            stream.cycle("true" if first else "false")
            first = False
            if errors.seen:
                raise RuntimeError("; ".join(errors.seen))
            out = {"decisions": stream.get_current_decisions()}
        elif cmd[0] == "query":
            out = {"decisions": query.get_decisions_for(cmd[1])}
        elif cmd[0] == "action":
            out = {"action": stream.get_action_for(cmd[1])}
        else:
            out = {"error": "unknown command"}
    except Exception as e:  # reported to the test, which fails with it
        out = {"error": repr(e)}
    print(json.dumps(out), flush=True)
