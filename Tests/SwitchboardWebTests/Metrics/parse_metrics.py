#!/usr/bin/env python3
"""Parses a Prometheus text exposition with prometheus_client's own parser.

Usage: parse_metrics.py FILE   prints one JSON object: {"families": {name: type}, "samples":
[[name, labels, value], ...]}; exits 1 (with the parser's error) when the text is invalid.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
families, samples = {}, []
try:
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for s in family.samples:
            samples.append([s.name, s.labels, s.value])
except Exception as e:  # the parser's verdict is the test's
    print(f"invalid exposition: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"families": families, "samples": samples}))
