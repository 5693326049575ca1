"""Renders template cases with the Helm SDK (Helm 4 inside): the oracle for the Go
template engine. Reads {"cases": [{"template": TEXT, "values": {...}}]} on stdin and
prints one {"ok": OUTPUT} or {"error": MESSAGE} per case, as a JSON list."""
import json
import sys
import tempfile
from pathlib import Path

import helm_python

request = json.load(sys.stdin)
results = []
with tempfile.TemporaryDirectory() as tmp:
    chart = Path(tmp) / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    template = chart / "templates" / "t.txt"
    for case in request["cases"]:
        template.write_text(case["template"])
        try:
            loaded = helm_python.Chart.load(str(chart))
            out = loaded.render(case["values"], name="rel", namespace="ns")
            results.append({"ok": out.get("c/templates/t.txt", "")})
        except helm_python.HelmError as error:
            results.append({"error": str(error)})
json.dump(results, sys.stdout)
