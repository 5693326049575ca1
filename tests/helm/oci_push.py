"""Pushes chart archives to an OCI registry with the Helm SDK (`helm registry login`,
`helm push`), over plain HTTP. Reads {"host", "username", "password", "remote",
"charts": [tgz...]} on stdin; prints {} or {"error"}."""
import json
import sys

import helm_python

request = json.load(sys.stdin)
try:
    client = helm_python.RegistryClient(plain_http=True)
    client.login(request["host"], username=request["username"],
                 password=request["password"], plain_http=True)
    for chart in request["charts"]:
        helm_python.push(chart, request["remote"], client=client, plain_http=True)
    json.dump({}, sys.stdout)
except helm_python.HelmError as error:
    json.dump({"error": str(error)}, sys.stdout)
