#!/usr/bin/env python3
"""Reads a test run's log (Swift Testing's lines, colours or not) for dev/test.sh.

Usage: dev/test-log.py unfinished LOG   the tests that started and did not end, one a line
       dev/test-log.py failed LOG       the failed tests as one --filter pattern, if 1 to 5 failed
"""
import re
import sys

mode, path = sys.argv[1:3]
lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in open(path, encoding="utf-8", errors="replace")]
if mode == "unfinished":
    running = {}
    for line in lines:
        m = re.match(r"◇ Test (.+?) started\.$", line)
        if m and m.group(1) != "run":
            running[m.group(1)] = running.get(m.group(1), 0) + 1
            continue
        m = re.match(r"[✔✘] Test (.+?) (passed|failed|skipped)", line)
        if m and running.get(m.group(1)):
            running[m.group(1)] -= 1
    for name, n in running.items():
        if n > 0:
            print("  " + name)
elif mode == "failed":
    names = []
    for line in lines:
        m = re.match(r"✘ Test (.+?) failed after", line)
        if m and not m.group(1).startswith("run with") and m.group(1) not in names:
            names.append(m.group(1))
    if 0 < len(names) <= 5:
        print("|".join(re.escape(n) for n in names))
else:
    sys.exit("dev/test-log.py: unfinished or failed, then the log")
