"""deploy/k8s: every manifest valid against the Kubernetes schema (strict: a misspelt field
fails), and cross-checked with the code it runs: commands, env names and the config in the
ConfigMap, probes on the API's real port and paths, a non-root user that matches the image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.api.app import create_app
from shared.config.models import Config
from tests.deploy.deploy_support import (
    ROOT,
    check_command,
    deployed_services,
    load_with_env,
    read_dockerfile,
)

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
"""The oldest minor still widely run by managed clusters; the manifests use nothing newer."""


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    yield from (d for d in yaml.safe_load_all(path.read_text()) if d)


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in _documents(K8S / name)]


def _kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests if d["kind"] == kind}


def _deployments(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """component → the Deployment's only container, with the pod spec under ``_pod``."""
    out = {}
    for deployment in _kind(manifests, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        out[container["name"]] = container | {"_pod": pod, "_deployment": deployment}
    return out


def _secret_keys() -> set[str]:
    (secret,) = _documents(K8S / "secret.example.yaml")
    return set(secret["stringData"])


def _loaded(container: dict[str, Any], manifests: list[dict[str, Any]]) -> Config:
    """The config this container sees: the ConfigMap mounted at WATCHKEEPER_CONFIG, with
    its environment (secret values stand in as ``<key>-value``)."""
    env: dict[str, str] = {}
    for var in container["env"]:
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "watchkeeper-secrets" and ref["key"] in _secret_keys()
        env[var["name"]] = var["value"] if ref is None else f"{ref['key'].lower()}-value"
    env["REDIS_URL"] = "redis+sentinel://:pw@s1:26379,s2/mymaster/0"  # the documented form
    path = Path(env["WATCHKEEPER_CONFIG"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
    (volume,) = [v for v in container["_pod"]["volumes"] if v["name"] == mount["name"]]
    configmap = _kind(manifests, "ConfigMap")[volume["configMap"]["name"]]
    return load_with_env(configmap["data"][path.name], env)


def test_every_manifest_is_valid_kubernetes(manifests: list[dict[str, Any]]) -> None:
    (secret,) = _documents(K8S / "secret.example.yaml")
    for doc in [*manifests, secret]:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk - listed == {"secret.example.yaml"}, "a manifest is missing from kustomize"


def test_every_service_runs_with_its_replicas(manifests: list[dict[str, Any]]) -> None:
    deployments = _deployments(manifests)
    assert set(deployments) == deployed_services()
    for name, container in deployments.items():
        assert check_command(container["command"]) == name
        assert container["image"] == "watchkeeper"
    replicas = {n: c["_deployment"]["spec"]["replicas"] for n, c in deployments.items()}
    assert (replicas["scheduler"], replicas["executor"]) == (2, 3)


def test_env_and_config_are_what_the_loader_reads(manifests: list[dict[str, Any]]) -> None:
    for container in _deployments(manifests).values():
        config = _loaded(container, manifests)
        assert config.api.tokens["ops"].token == "wk_ops_token-value"
        assert config.database.url == "database_url-value"


def test_probes_use_the_real_endpoints_and_port(manifests: list[dict[str, Any]]) -> None:
    deployments = _deployments(manifests)
    api = deployments.pop("api")
    config = _loaded(api, manifests)
    # The app is only built (never served): its router is the truth about the paths.
    routes = {r.resource.canonical for r in create_app(None, config).router.routes() if r.resource}
    (port,) = api["ports"]
    assert port["containerPort"] == config.api.port
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert {"/healthz", "/readyz"} <= routes
    (service,) = _kind(manifests, "Service").values()
    pod_labels = api["_deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]
    for container in deployments.values():
        assert check_command(container["readinessProbe"]["exec"]["command"]) == "healthcheck"


def test_non_root_read_only_with_writable_data(manifests: list[dict[str, Any]]) -> None:
    dockerfile = read_dockerfile()
    uid = int(dockerfile.user.split(":")[0])
    for name, container in _deployments(manifests).items():
        pod = container["_pod"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid, f"{name}: not the image's user"
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        config = _loaded(container, manifests)
        mounts = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert f"{dockerfile.workdir}/{config.data_dir}" in mounts, f"{name}: data not writable"
        assert "/tmp" in mounts
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(limits) & set(requests), f"{name}: resources"
