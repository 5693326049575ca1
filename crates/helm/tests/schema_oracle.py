"""Checks values against chart schemas with the Helm SDK: the oracle for
values.schema.json. Reads [{"chart": DIR, "values": {...}}, ...] on stdin and prints,
for each, {"ok": true} or {"error": MESSAGE} (Helm's ValidateAgainstSchema report, after
the values were coalesced with the chart's defaults)."""
import json
import sys

import helm_python

results = []
for case in json.load(sys.stdin):
    try:
        chart = helm_python.Chart.load(case["chart"])
        chart.validate_schema(case["values"])
        results.append({"ok": True})
    except helm_python.HelmError as error:
        results.append({"error": str(error)})
json.dump(results, sys.stdout)
