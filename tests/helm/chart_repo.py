"""Packages charts with the Helm SDK into a repository directory and writes its
index as `helm repo index` does. Reads {"repo", "charts": [[dir, version]...],
"base_url"?} on stdin; prints the packaged archives' paths."""
import json
import sys

import helm_python

request = json.load(sys.stdin)
packaged = [
    helm_python.package(chart, destination=request["repo"], version=version)
    for chart, version in request["charts"]
]
helm_python.repo_index_generate(request["repo"], base_url=request.get("base_url"))
json.dump(packaged, sys.stdout)
