"""deploy/kubernetes: every manifest valid against the Kubernetes schemas (offline, strict: unknown
fields fail), and the parts fit together: probes, grace period, selectors, settings names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from backend.settings import Settings
from tests.support import ROOT

KUBE = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.37.0"


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one object of that kind (kustomization.yaml is not a cluster object)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in out, f"two {doc['kind']} objects"
            out[doc["kind"]] = doc
    return out


@pytest.mark.parametrize(
    "path", sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")
)
def test_manifest_is_valid_against_the_schema(path: str) -> None:
    for doc in yaml.safe_load_all((KUBE / path).read_text()):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_schema_validation_refuses_a_broken_manifest() -> None:
    deployment = manifests()["Deployment"]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    typo = manifests()["Deployment"]
    app = app_container(typo)
    app["readinesProbe"] = app.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((KUBE / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}


def app_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "tandem"]
    return container


def test_probes_and_a_grace_period_longer_than_the_shutdown_flush() -> None:
    deployment = manifests()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    app = app_container(deployment)
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    # Shutdown: terminals closed, then rooms flushed, each bounded by shutdown_timeout_seconds.
    flush = 2 * Settings.model_fields["shutdown_timeout_seconds"].default
    assert pod["terminationGracePeriodSeconds"] > pre_stop + flush
    assert app["resources"]["requests"]["cpu"]  # the autoscaler's CPU utilization needs a request


def test_selectors_and_targets_match_the_pods() -> None:
    objs = manifests()
    deployment = objs["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        objs["Service"]["spec"]["selector"],
        objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    target = objs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    (metric,) = objs["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert (
        objs["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
        > objs["PodDisruptionBudget"]["spec"]["minAvailable"]
    )
    port = app_container(deployment)["ports"][0]
    assert objs["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]


def test_settings_in_configmap_and_secret_are_real_settings() -> None:
    objs = manifests()
    names = [*objs["ConfigMap"]["data"], *objs["Secret"]["stringData"]]
    fields = {f"TANDEM_{name.upper()}" for name in Settings.model_fields}
    unknown = [n for n in names if n.startswith("TANDEM_") and n not in fields]
    assert not unknown, f"not settings: {unknown}"
    # Each value parses as the setting expects.
    values = {n.removeprefix("TANDEM_").lower(): v for n, v in objs["ConfigMap"]["data"].items()}
    env = {f"TANDEM_{k.upper()}": v for k, v in values.items() if f"TANDEM_{k.upper()}" in fields}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = Settings()
    assert settings.sandbox == "auto"
    assert settings.trusted_proxies


def test_terminals_reach_the_sidecar_engine_through_docker_host() -> None:
    objs = manifests()
    socket = objs["ConfigMap"]["data"]["DOCKER_HOST"].removeprefix("unix://")
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    (dind,) = [c for c in pod["initContainers"] if c["name"] == "dind"]
    assert dind["restartPolicy"] == "Always"  # a native sidecar: up before the app, down after it
    assert f"--host=unix://{socket}" in dind["args"]
    socket_dir = str(Path(socket).parent)
    for container in (dind, app_container(objs["Deployment"])):
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts[socket_dir] == "dind-socket"
        assert mounts["/srv/tandem"] == "data"  # workspaces at the same path for bind mounts
