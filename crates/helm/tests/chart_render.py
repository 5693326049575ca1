"""Renders a chart with the Helm SDK: the oracle for whole charts. Reads
{"chart": DIR, "values": {...}, "name": N, "namespace": NS} on stdin and prints the
rendered templates as {PATH: TEXT}, or {"error": MESSAGE}."""
import json
import sys

import helm_python

request = json.load(sys.stdin)
try:
    chart = helm_python.Chart.load(request["chart"])
    out = chart.render(request["values"], name=request["name"], namespace=request["namespace"])
    json.dump({"templates": out}, sys.stdout)
except helm_python.HelmError as error:
    json.dump({"error": str(error)}, sys.stdout)
