"""The Helm SDK's view of releases in a cluster, for the HelmRelease tests: what
`helm list`, `helm history`, `helm get values` and `helm status` say, and the
SDK's own install, upgrade, rollback and uninstall. Reads {"kubeconfig",
"namespace", "op", "name", ...} on stdin; prints the SDK's answer as JSON, or
{"error"} when the SDK refused."""
import json
import sys

import helm_python

request = json.load(sys.stdin)
with open(request["kubeconfig"], encoding="utf-8") as f:
    kubeconfig = f.read()
config = helm_python.Config(kubeconfig_content=kubeconfig, namespace=request["namespace"])
op, name = request["op"], request.get("name")
try:
    if op == "list":
        answer = config.list()
    elif op == "history":
        answer = config.history(name)
    elif op == "get_values":
        answer = config.get_values(name)
    elif op == "status":
        answer = config.status(name)
    elif op == "install":
        chart = helm_python.Chart.load(request["chart"])
        answer = config.install(chart, name, request.get("values", {}),
                                namespace=request["namespace"])
    elif op == "upgrade":
        chart = helm_python.Chart.load(request["chart"])
        answer = config.upgrade(chart, name, request.get("values", {}),
                                namespace=request["namespace"])
    elif op == "rollback":
        config.rollback(name, version=request.get("revision"))
        answer = config.history(name)
    elif op == "uninstall":
        answer = config.uninstall(name)
    else:
        raise SystemExit(f"unknown op {op}")
    json.dump(answer, sys.stdout, default=str)
except helm_python.HelmError as e:
    json.dump({"error": str(e)}, sys.stdout)
