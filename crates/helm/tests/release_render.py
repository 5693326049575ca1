"""Renders a release as `helm install --dry-run=client` does, with the Helm SDK:
the oracle for dependency processing, value coalescing, schemas, sorting and notes.
Reads {"chart": DIR, "values": {...}, "name": N, "namespace": NS} on stdin and prints
{"manifest": TEXT, "notes": TEXT} or {"error": MESSAGE}."""
import json
import sys

import helm_python

EMPTY_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"

request = json.load(sys.stdin)
try:
    config = helm_python.Config(kubeconfig_content=EMPTY_KUBECONFIG, namespace=request["namespace"])
    chart = helm_python.Chart.load(request["chart"])
    release = config.install(chart, request["name"], request["values"], dry_run="client",
                             namespace=request["namespace"])
    json.dump({"manifest": release.get("manifest", ""), "notes": release.get("notes", "")}, sys.stdout)
except helm_python.HelmError as error:
    json.dump({"error": str(error)}, sys.stdout)
