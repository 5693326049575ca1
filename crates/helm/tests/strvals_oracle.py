"""Parses --set style expressions with the Helm SDK: the oracle for strvals. Reads
[{"kind": "set" | "string" | "json" | "literal" | "file", "expr": TEXT}, ...] on
stdin and prints, in the same order, {"ok": VALUES} or {"error": MESSAGE} for each."""
import json
import sys

import helm_python

PARSERS = {
    "set": helm_python.parse_set_string,
    "string": helm_python.parse_set_string_values,
    "json": helm_python.parse_set_json,
    "literal": helm_python.parse_set_literal,
    "file": helm_python.parse_set_file,
}

results = []
for case in json.load(sys.stdin):
    try:
        results.append({"ok": PARSERS[case["kind"]](case["expr"])})
    except helm_python.HelmValuesError as error:
        results.append({"error": str(error)})
json.dump(results, sys.stdout)
