"""The Helm SDK's side of `ferroflux helm template`: values built as Helm's CLI
builds them (-f files merged in order, then --set and --set-string), the release
rendered by `install --dry-run=client`, and the chart's CRD files. Reads
{"chart", "name", "namespace", "files": [...], "set": [...], "set_string": [...]}
on stdin; prints {"manifest", "crds": [[filename, data]...]} or {"error"}."""
import json
import sys

import helm_python

EMPTY_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


def merge_maps(a, b):
    """Helm's mergeMaps (pkg/cli/values): b over a, maps merged key by key."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


request = json.load(sys.stdin)
try:
    values = {}
    for path in request.get("files", []):
        with open(path, encoding="utf-8") as f:
            values = merge_maps(values, helm_python.values_from_yaml(f.read()) or {})
    for expr in request.get("set", []):
        values = merge_maps(values, helm_python.parse_set_string(expr))
    for expr in request.get("set_string", []):
        values = merge_maps(values, helm_python.parse_set_string_values(expr))
    chart = helm_python.Chart.load(request["chart"])
    config = helm_python.Config(kubeconfig_content=EMPTY_KUBECONFIG, namespace=request["namespace"])
    release = config.install(chart, request["name"], values, dry_run="client",
                             namespace=request["namespace"])
    crds = [[c["filename"], c["data"]] for c in chart.crds]
    json.dump({"manifest": release.get("manifest", ""), "crds": crds}, sys.stdout)
except helm_python.HelmError as error:
    json.dump({"error": str(error)}, sys.stdout)
