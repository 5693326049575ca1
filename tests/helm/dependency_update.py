"""Resolves a chart directory's dependencies with the Helm SDK (`helm dependency
update`). Reads {"chart"} on stdin; prints {} or {"error"}."""
import json
import sys

import helm_python

request = json.load(sys.stdin)
try:
    helm_python.dependency_update(request["chart"])
    json.dump({}, sys.stdout)
except helm_python.HelmError as error:
    json.dump({"error": str(error)}, sys.stdout)
