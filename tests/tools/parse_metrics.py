#!/usr/bin/python3
"""Reads a Prometheus text exposition on stdin with the official parser (Debian's
python3-prometheus-client) and prints one JSON object: {"families": {name: type},
"samples": {"name{label=value,...}": value}}. Exits 1 with the parser's error when the text
does not parse: a scrape Prometheus itself would refuse must fail the test."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
families, samples = {}, {}
try:
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
except Exception as e:  # the parser raises ValueError and friends on bad input
    print(f"unparsable exposition: {e}", file=sys.stderr)
    sys.exit(1)
json.dump({"families": families, "samples": samples}, sys.stdout)
