#!/usr/bin/env python3
"""Writes the API versions Helm's default .Capabilities.APIVersions holds, as the
Helm SDK (the oracle) reports them, one per line, for crates/helm.

Usage: .venv/bin/python scripts/gen-helm-capabilities.py crates/helm/src/api_versions.txt
"""
import sys
import tempfile
from pathlib import Path

import helm_python

with tempfile.TemporaryDirectory() as tmp:
    chart = Path(tmp) / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "v.txt").write_text(
        "{{ range .Capabilities.APIVersions }}{{ . }}\n{{ end }}"
    )
    out = helm_python.Chart.load(str(chart)).render({}, name="r", namespace="n")
    versions = out["c/templates/v.txt"]
header = f"# .Capabilities.APIVersions of Helm {helm_python.helm_sdk_version()} (scripts/gen-helm-capabilities.py)\n"
Path(sys.argv[1]).write_text(header + versions)
