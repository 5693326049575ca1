"""Helm v4 SDK (PyPI ``helm-python-sdk``, import ``helm_python``) against a running API server.

The SDK wraps Helm's own Go library (libhelm_c.so bundled in the wheel, Helm v4.2.3), so
these tests show whether real Helm works against ferroflux's embedded API server.

Run (see /work/scratch/helm-findings.md for details):

    HOME=$(mktemp -d) KUBECONFIG=/path/to/kubeconfig \\
        .venv/bin/python -m pytest -q tests/helm/helm_sdk_test.py

Environment:
    KUBECONFIG              kubeconfig of the running server (required for the cluster tests;
                            the first entry is used if it holds several paths).
    HELM_TEST_KUBE_CONTEXT  context to use (default: the kubeconfig's current-context).
    HELM_TEST_NAMESPACE     namespace to install into (default: helm-sdk-test; created by Helm).
    HOME                    set it to a fresh directory: client-go caches discovery under
                            $HOME/.kube/cache for 6 hours, keyed by host:port. The Go library
                            reads the environment the process started with, so set it on the
                            command line, not from Python.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

import helm_python as helm

CHART_DIR = Path(__file__).resolve().parent / "chart"
CHART_NAME = "ferroflux-helm-fixture"
NAMESPACE = os.environ.get("HELM_TEST_NAMESPACE", "helm-sdk-test")
RELEASE_SECRET_TYPE = "helm.sh/release.v1"
CRD_NAME = "widgets.helmtest.ferroflux.dev"
# Seconds Helm may spend inside one action, and the Python-side cap after which the
# action is cancelled through a HelmContext (install/upgrade only accept one).
ACTION_TIMEOUT = 120
CANCEL_AFTER = 180


# --------------------------------------------------------------------------------------
# A small read-only Kubernetes client built from the same kubeconfig, to look at what Helm
# wrote. Deliberately independent of Helm (stdlib only).
# --------------------------------------------------------------------------------------


class KubeClient:
    def __init__(self, kubeconfig_path: str, context_name: str | None) -> None:
        config = helm.values_from_yaml(Path(kubeconfig_path).read_text())
        base_dir = Path(kubeconfig_path).resolve().parent
        context_name = context_name or config.get("current-context")
        context = _named(config.get("contexts", []), context_name, "context")
        cluster = _named(config.get("clusters", []), context["cluster"], "cluster")
        user = _named(config.get("users", []), context.get("user"), "user") if context.get("user") else {}

        self.server = cluster["server"].rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "ferroflux-helm-sdk-test"}
        self._tmp = tempfile.TemporaryDirectory(prefix="helm-sdk-test-")
        self.ssl_context: ssl.SSLContext | None = None

        if self.server.startswith("https://"):
            if cluster.get("insecure-skip-tls-verify"):
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                cafile = self._file(cluster, "certificate-authority", base_dir)
                ctx = ssl.create_default_context(cafile=cafile)
                if cluster.get("tls-server-name"):
                    # urllib has no SNI override; the name check is what matters here.
                    ctx.check_hostname = False
            cert = self._file(user, "client-certificate", base_dir)
            key = self._file(user, "client-key", base_dir)
            if cert and key:
                ctx.load_cert_chain(cert, key)
            self.ssl_context = ctx

        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = (base_dir / user["tokenFile"]).read_text().strip()
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user.get("username") is not None:
            basic = f"{user['username']}:{user.get('password', '')}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()

    def _file(self, section: dict[str, Any], key: str, base_dir: Path) -> str | None:
        if section.get(f"{key}-data"):
            path = Path(self._tmp.name) / key
            path.write_bytes(base64.b64decode(section[f"{key}-data"]))
            return str(path)
        if section.get(key):
            return str(base_dir / section[key])
        return None

    def request(self, path: str) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.server + path, headers=self.headers, method="GET")
        try:
            with urllib.request.urlopen(req, context=self.ssl_context, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                return err.code, json.loads(body)
            except ValueError:
                return err.code, {"raw": body.decode(errors="replace")}

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None on 404."""
        code, body = self.request(path)
        if code == 404:
            return None
        assert code == 200, f"GET {path} -> {code}: {body}"
        return body

    def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = f"?labelSelector={urllib.parse.quote(label_selector)}" if label_selector else ""
        code, body = self.request(path + query)
        assert code == 200, f"LIST {path}{query} -> {code}: {body}"
        return body.get("items") or []


def _named(entries: list[dict[str, Any]], name: str | None, what: str) -> dict[str, Any]:
    for entry in entries:
        if entry.get("name") == name:
            return entry.get(what) or {}
    raise AssertionError(f"kubeconfig has no {what} named {name!r}")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(0.25)


def new_release_name(prefix: str) -> str:
    # Unique per run so the suite can be re-run against the same server.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fullname(release: str) -> str:
    return f"{release}-{CHART_NAME}"[:63].rstrip("-")


def ns_path(api: str, resource: str, name: str = "", namespace: str = NAMESPACE) -> str:
    """``api`` is ``v1`` for the core group, else ``group/version``."""
    prefix = "/api/v1" if api == "v1" else f"/apis/{api}"
    suffix = f"/{name}" if name else ""
    return f"{prefix}/namespaces/{namespace}/{resource}{suffix}"


def release_secret_name(release: str, revision: int) -> str:
    return f"sh.helm.release.v1.{release}.v{revision}"


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """Helm's Secret driver: data.release = base64(gzip(JSON)); the API adds one more base64."""
    helm_payload = base64.b64decode(secret["data"]["release"])
    raw = base64.b64decode(helm_payload)
    assert raw[:3] == b"\x1f\x8b\x08", "release payload is not gzip"
    return json.loads(gzip.decompress(raw))


def process_argv0_basename() -> str:
    """Basename of the process's argv[0].

    helm-python-sdk never sets kube.ManagedFieldsManager (the helm CLI sets it to "helm"),
    so Helm's client uses filepath.Base(os.Args[0]) of this process as field manager.
    """
    with open("/proc/self/cmdline", "rb") as f:
        argv0 = f.read().split(b"\0", 1)[0].decode()
    return os.path.basename(argv0)


def run_cancellable(action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run install/upgrade with a Python-side deadline, so a stuck server fails the test."""
    ctx = helm.HelmContext()
    timer = threading.Timer(CANCEL_AFTER, ctx.cancel)
    timer.start()
    try:
        return action(*args, context=ctx, **kwargs)
    finally:
        timer.cancel()
        ctx.close()


def by_revision(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # helm_history returns storage order (the server's list order), not revision order.
    return sorted(releases, key=lambda r: r["revision"])


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kubeconfig_path() -> str:
    value = os.environ.get("KUBECONFIG", "")
    paths = [p for p in value.split(os.pathsep) if p]
    if not paths:
        pytest.fail("KUBECONFIG must point at the kubeconfig of a running API server")
    path = paths[0]
    if not Path(path).is_file():
        pytest.fail(f"KUBECONFIG file {path} does not exist")
    return path


@pytest.fixture(scope="session")
def kube_context() -> str | None:
    return os.environ.get("HELM_TEST_KUBE_CONTEXT") or None


@pytest.fixture(scope="session")
def kube(kubeconfig_path: str, kube_context: str | None) -> KubeClient:
    return KubeClient(kubeconfig_path, kube_context)


@pytest.fixture(scope="session")
def helm_config(kubeconfig_path: str, kube_context: str | None):
    with helm.Config(
        kubeconfig_path=kubeconfig_path,
        kube_context=kube_context,
        namespace=NAMESPACE,
        storage_driver="secret",
    ) as cfg:
        cfg.check_reachable()
        yield cfg


# --------------------------------------------------------------------------------------
# Offline
# --------------------------------------------------------------------------------------


def test_sdk_bundles_helm_v4() -> None:
    assert helm.helm_sdk_version().startswith("v4."), helm.helm_sdk_version()


def test_render_offline() -> None:
    """Chart.load(...).render(...) works with no cluster; later this is the oracle for our engine."""
    with helm.Chart.load(CHART_DIR) as chart:
        assert chart.name == CHART_NAME
        assert chart.version == "0.1.0"
        assert [crd["name"] for crd in chart.crds] == ["crds/widgets.yaml"]

        manifests = chart.render(
            {"message": "rendered", "replicaCount": 3},
            name="demo",
            namespace="render-ns",
            revision=4,
            is_upgrade=True,
        )
        prefix = f"{CHART_NAME}/templates/"
        assert set(manifests) >= {
            prefix + "configmap.yaml",
            prefix + "deployment.yaml",
            prefix + "service.yaml",
            prefix + "widget.yaml",
        }
        configmap = helm.values_from_yaml(manifests[prefix + "configmap.yaml"])
        assert configmap["metadata"]["name"] == "demo-" + CHART_NAME
        assert configmap["data"] == {"message": "rendered", "revision": "4"}
        deployment = helm.values_from_yaml(manifests[prefix + "deployment.yaml"])
        assert deployment["spec"]["replicas"] == 3
        assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        service = helm.values_from_yaml(manifests[prefix + "service.yaml"])
        assert service["spec"]["ports"][0]["port"] == 8080
        # The Widget template is off by default and renders to whitespace only.
        assert manifests[prefix + "widget.yaml"].strip() == ""
        # CRDs under crds/ are never part of the rendered templates.
        assert all("CustomResourceDefinition" not in text for text in manifests.values())

        # Same chart, same values: rendering is deterministic.
        again = chart.render(
            {"message": "rendered", "replicaCount": 3},
            name="demo",
            namespace="render-ns",
            revision=4,
            is_upgrade=True,
        )
        assert again == manifests

    report = helm.lint(CHART_DIR)
    assert report["errors"] == []
    assert all(m["severity"] < 3 for m in report["messages"]), report


# --------------------------------------------------------------------------------------
# Against the server
# --------------------------------------------------------------------------------------


def assert_release_secret(
    kube: KubeClient, release: str, revision: int, status: str
) -> dict[str, Any]:
    secret = kube.get(ns_path("v1", "secrets", release_secret_name(release, revision)))
    assert secret is not None, f"release Secret for revision {revision} is missing"
    assert secret["type"] == RELEASE_SECRET_TYPE
    labels = secret["metadata"].get("labels") or {}
    assert labels.get("owner") == "helm"
    assert labels.get("name") == release
    assert labels.get("status") == status
    assert labels.get("version") == str(revision)
    # Create stamps createdAt; every later Update replaces the labels and stamps modifiedAt.
    stamp = labels.get("modifiedAt") or labels.get("createdAt")
    assert stamp and stamp.isdigit(), labels
    stored = decode_release(secret)
    assert stored["name"] == release
    assert stored["namespace"] == NAMESPACE
    assert stored["version"] == revision
    assert stored["info"]["status"] == status
    return stored


def assert_owned_by_release(obj: dict[str, Any], release: str) -> None:
    meta = obj["metadata"]
    assert (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == "Helm"
    annotations = meta.get("annotations") or {}
    assert annotations.get("meta.helm.sh/release-name") == release
    assert annotations.get("meta.helm.sh/release-namespace") == NAMESPACE


def assert_applied_server_side(obj: dict[str, Any]) -> None:
    managers = {(f.get("manager"), f.get("operation")) for f in obj["metadata"].get("managedFields") or []}
    assert (process_argv0_basename(), "Apply") in managers, managers


def test_release_lifecycle(helm_config: helm.Config, kube: KubeClient) -> None:
    release = new_release_name("ff")
    configmap_path = ns_path("v1", "configmaps", fullname(release))
    service_path = ns_path("v1", "services", fullname(release))
    deployment_path = ns_path("apps/v1", "deployments", fullname(release))
    try:
        # ---- install -------------------------------------------------------------
        installed = run_cancellable(
            helm_config.install,
            CHART_DIR,
            release,
            {"message": "one"},
            namespace=NAMESPACE,
            create_namespace=True,
            timeout=ACTION_TIMEOUT,
        )
        assert installed["name"] == release
        assert installed["namespace"] == NAMESPACE
        assert installed["revision"] == 1
        assert installed["status"] == "deployed"
        assert "kind: ConfigMap" in installed["manifest"]

        namespace = kube.get(f"/api/v1/namespaces/{NAMESPACE}")
        assert namespace is not None
        assert (namespace["metadata"].get("labels") or {}).get("name") == NAMESPACE

        stored = assert_release_secret(kube, release, 1, "deployed")
        assert stored["config"] == {"message": "one"}
        assert stored["apply_method"] == "ssa"
        assert stored["chart"]["metadata"]["name"] == CHART_NAME
        assert "kind: Deployment" in stored["manifest"]

        crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        assert crd is not None, "CRD from crds/ was not created"
        assert crd["spec"]["names"]["kind"] == "Widget"

        configmap = kube.get(configmap_path)
        assert configmap is not None
        assert configmap["data"] == {"message": "one", "revision": "1"}
        assert_owned_by_release(configmap, release)
        assert_applied_server_side(configmap)

        deployment = kube.get(deployment_path)
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 1
        assert_owned_by_release(deployment, release)
        assert_applied_server_side(deployment)

        service = kube.get(service_path)
        assert service is not None
        assert service["spec"]["ports"][0]["port"] == 8080
        assert_owned_by_release(service, release)

        # ---- list ----------------------------------------------------------------
        listed = {r["name"]: r for r in helm_config.list()}
        assert release in listed, listed
        assert listed[release]["revision"] == 1
        assert listed[release]["status"] == "deployed"
        assert listed[release]["chart_name"] == CHART_NAME
        assert release in {r["name"] for r in helm_config.list(all_namespaces=True)}

        # ---- upgrade -------------------------------------------------------------
        upgraded = run_cancellable(
            helm_config.upgrade,
            CHART_DIR,
            release,
            {"message": "two", "replicaCount": 2},
            namespace=NAMESPACE,
            timeout=ACTION_TIMEOUT,
        )
        assert upgraded["revision"] == 2
        assert upgraded["status"] == "deployed"

        assert_release_secret(kube, release, 1, "superseded")
        stored = assert_release_secret(kube, release, 2, "deployed")
        assert stored["config"] == {"message": "two", "replicaCount": 2}
        assert helm_config.get_values(release) == {"message": "two", "replicaCount": 2}

        configmap = kube.get(configmap_path)
        assert configmap is not None
        assert configmap["data"] == {"message": "two", "revision": "2"}
        deployment = kube.get(deployment_path)
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 2

        # ---- history -------------------------------------------------------------
        history = by_revision(helm_config.history(release))
        assert [(r["revision"], r["status"]) for r in history] == [
            (1, "superseded"),
            (2, "deployed"),
        ]

        # ---- rollback to 1 ---------------------------------------------------------
        helm_config.rollback(release, version=1, timeout=ACTION_TIMEOUT)

        history = by_revision(helm_config.history(release))
        assert [(r["revision"], r["status"]) for r in history] == [
            (1, "superseded"),
            (2, "superseded"),
            (3, "deployed"),
        ]
        stored = assert_release_secret(kube, release, 3, "deployed")
        assert stored["info"]["description"] == "Rollback to 1"
        assert stored["config"] == {"message": "one"}
        assert_release_secret(kube, release, 2, "superseded")

        # Rollback re-applies revision 1's manifest as it was rendered then.
        configmap = kube.get(configmap_path)
        assert configmap is not None
        assert configmap["data"] == {"message": "one", "revision": "1"}
        deployment = kube.get(deployment_path)
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 1

        status = helm_config.status(release)
        assert status["revision"] == 3
        assert status["status"] == "deployed"

        # ---- uninstall -----------------------------------------------------------
        result = helm_config.uninstall(release, timeout=ACTION_TIMEOUT)
        assert result["release"]["name"] == release
        assert result["release"]["status"] == "uninstalled"

        for path in (configmap_path, service_path, deployment_path):
            wait_until(lambda p=path: kube.get(p) is None, f"{path} to be deleted")
        # Without keep_history every release Secret is purged.
        assert kube.list(ns_path("v1", "secrets"), f"owner=helm,name={release}") == []
        # Helm never deletes CRDs it installed from crds/.
        assert kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}") is not None

        assert release not in {r["name"] for r in helm_config.list(all_states=True)}
        with pytest.raises(helm.HelmNotFoundError):
            helm_config.history(release)
        # Helm reports a purged release to upgrade as "has no deployed releases" (not NotFound).
        with pytest.raises(helm.HelmReleaseError, match="has no deployed releases"):
            helm_config.upgrade(CHART_DIR, release, {"message": "three"}, timeout=ACTION_TIMEOUT)
    finally:
        helm_config.uninstall(release, ignore_not_found=True, timeout=ACTION_TIMEOUT)


def test_uninstall_keep_history(helm_config: helm.Config, kube: KubeClient) -> None:
    release = new_release_name("ff-keep")
    try:
        run_cancellable(helm_config.install, CHART_DIR, release, None, namespace=NAMESPACE,
                        create_namespace=True, timeout=ACTION_TIMEOUT)
        helm_config.uninstall(release, keep_history=True, timeout=ACTION_TIMEOUT)

        assert_release_secret(kube, release, 1, "uninstalled")
        assert kube.get(ns_path("v1", "configmaps", fullname(release))) is None
        # With no state flags Helm's List uses ListAll: the latest revision in any state.
        listed = {r["name"]: r for r in helm_config.list()}
        assert listed[release]["status"] == "uninstalled"
        assert listed[release]["revision"] == 1
    finally:
        helm_config.uninstall(release, ignore_not_found=True, timeout=ACTION_TIMEOUT)
    assert kube.list(ns_path("v1", "secrets"), f"owner=helm,name={release}") == []


def test_custom_resource_from_chart_crd(helm_config: helm.Config, kube: KubeClient) -> None:
    """A template whose kind comes from the chart's own crds/ (served right after creation)."""
    release = new_release_name("ff-widget")
    widget_path = ns_path("helmtest.ferroflux.dev/v1", "widgets", fullname(release))
    try:
        installed = run_cancellable(
            helm_config.install,
            CHART_DIR,
            release,
            {"widget": {"enabled": True, "size": 5}},
            namespace=NAMESPACE,
            create_namespace=True,
            timeout=ACTION_TIMEOUT,
        )
        assert installed["status"] == "deployed"
        widget = kube.get(widget_path)
        assert widget is not None
        assert widget["spec"] == {"size": 5}
        assert_owned_by_release(widget, release)

        helm_config.uninstall(release, timeout=ACTION_TIMEOUT)
        wait_until(lambda: kube.get(widget_path) is None, "Widget to be deleted")
    finally:
        helm_config.uninstall(release, ignore_not_found=True, timeout=ACTION_TIMEOUT)


def test_install_waits_for_readiness(helm_config: helm.Config, kube: KubeClient) -> None:
    """wait="watcher" is kstatus over list+watch: needs watch, CRD conditions and workload status."""
    release = new_release_name("ff-wait")
    try:
        installed = run_cancellable(
            helm_config.install,
            CHART_DIR,
            release,
            {"message": "waited"},
            namespace=NAMESPACE,
            create_namespace=True,
            wait="watcher",
            timeout=ACTION_TIMEOUT,
        )
        assert installed["status"] == "deployed"
        deployment = kube.get(ns_path("apps/v1", "deployments", fullname(release)))
        assert deployment is not None
        status = deployment.get("status") or {}
        assert status.get("observedGeneration") == deployment["metadata"]["generation"]
        assert status.get("readyReplicas") == 1

        helm_config.uninstall(release, wait="watcher", timeout=ACTION_TIMEOUT)
        assert kube.get(ns_path("apps/v1", "deployments", fullname(release))) is None
    finally:
        helm_config.uninstall(release, ignore_not_found=True, timeout=ACTION_TIMEOUT)


FERROFLUX_CHART = Path(__file__).resolve().parents[2] / "helm" / "ferroflux"


def test_ferroflux_chart_renders_and_installs(helm_config: helm.Config, kube: KubeClient) -> None:
    """The chart that installs ferroflux: CRDs, RBAC, a StatefulSet with stable
    identities, a headless Service for Raft, a Service for artifacts, a PDB."""
    with helm.Chart.load(FERROFLUX_CHART) as chart:
        assert chart.name == "ferroflux"
        crd_files = sorted(crd["name"] for crd in chart.crds)
        assert "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml" in crd_files
        assert len(crd_files) == 13
        manifests = chart.render(
            {"replicas": 5, "extraArgs": ["--no-cross-namespace-refs"]},
            name="ff",
            namespace="flux-system",
            revision=1,
            is_upgrade=False,
        )
        prefix = "ferroflux/templates/"
        statefulset = helm.values_from_yaml(manifests[prefix + "statefulset.yaml"])
        assert statefulset["spec"]["replicas"] == 5
        assert statefulset["spec"]["serviceName"] == "ff-headless"
        args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[0] == "run" and "--id=$(POD_NAME)" in args
        assert "--storage-adv-addr=$(POD_NAME).ff-headless.flux-system.svc:9090" in args
        assert args[-1] == "--no-cross-namespace-refs"
        # Raft: every replica listens, advertises its stable name and knows its peers.
        assert "--raft-listen=0.0.0.0:9400" in args
        assert "--advertise=$(POD_NAME).ff-headless.flux-system.svc:9400" in args
        peers = next(a for a in args if a.startswith("--peers="))[len("--peers="):].split(",")
        assert peers == [f"ff-{i}.ff-headless.flux-system.svc:9400" for i in range(5)], peers
        services = [s for s in manifests[prefix + "services.yaml"].split("\n---\n") if s.strip()]
        headless = helm.values_from_yaml(services[0])
        assert headless["spec"]["clusterIP"] == "None"
        assert {p["name"] for p in headless["spec"]["ports"]} == {"raft", "artifacts"}
        pdb = helm.values_from_yaml(manifests[prefix + "pdb.yaml"])
        assert pdb["spec"]["maxUnavailable"] == 1
        assert manifests[prefix + "servicemonitor.yaml"].strip() == "", "off by default"

    release = new_release_name("ferroflux")
    namespace = "ferroflux-chart"
    try:
        installed = run_cancellable(
            helm_config.install,
            FERROFLUX_CHART,
            release,
            {"replicas": 3},
            namespace=namespace,
            create_namespace=True,
            timeout=ACTION_TIMEOUT,
        )
        assert installed["status"] == "deployed"
        statefulset = kube.get(ns_path("apps/v1", "statefulsets", release, namespace=namespace))
        assert statefulset is not None and statefulset["spec"]["replicas"] == 3
        assert kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io")
        assert kube.get(ns_path("policy/v1", "poddisruptionbudgets", release, namespace=namespace))
        assert kube.get(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{release}")
    finally:
        helm_config.uninstall(release, ignore_not_found=True, timeout=ACTION_TIMEOUT)
