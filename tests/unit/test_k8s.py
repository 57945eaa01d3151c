"""The Kubernetes manifests (deploy/k8s), checked offline: rendered by kustomize
(kubectl's), validated against the Kubernetes OpenAPI schemas (kubernetes-validate), and
held to the project: every env var is a setting, every container runs a CLI verb, the
learner is a single replica, the API has probes, an HPA and a PDB."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from streamrec.streams.cli_parser import build_parser
from streamrec.streams.settings import Settings

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
K8S_VERSION = "1.30.0"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None,
                                reason="kubectl (its built-in kustomize renders the "
                                       "manifests) is not installed")


def render(overlay: str) -> dict[tuple[str, str], dict]:
    out = subprocess.run(["kubectl", "kustomize", str(K8S / overlay)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out)}


def containers(docs: dict) -> dict[str, dict]:
    return {c["name"]: c for d in docs.values() if d["kind"] == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize("overlay", ["base", "overlays/gpu"])
def test_manifests_render_and_match_the_kubernetes_schemas(overlay):
    docs = render(overlay)
    assert {k for k, _ in docs} >= {"Deployment", "ConfigMap", "Secret", "Service",
                                    "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", ["base", "overlays/gpu"])
def test_every_env_var_is_a_setting_and_every_command_a_cli_verb(overlay):
    docs = render(overlay)
    known = {spec.env for spec in Settings.specs()}
    set_ = set(docs["ConfigMap", "streamrec-config"]["data"])
    set_ |= set(docs["Secret", "streamrec-secrets"]["stringData"])
    set_ |= {e["name"] for c in containers(docs).values() for e in c.get("env", ())}
    assert set_ and set_ <= known, set_ - known
    verbs = set(next(a for a in build_parser()._actions if a.dest == "cmd").choices)
    for name, c in containers(docs).items():
        assert c["args"][0] in verbs, name
        assert c["resources"]["requests"] and c["resources"]["limits"], name


def test_one_learner_probed_api_that_scales_and_a_gpu_only_in_its_overlay():
    base, gpu = render("base"), render("overlays/gpu")
    learner = base["Deployment", "streamrec-learner"]["spec"]
    assert learner["replicas"] == 1 and learner["strategy"]["type"] == "Recreate"
    api = containers(base)["api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    hpa = base["HorizontalPodAutoscaler", "streamrec-api"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "streamrec-api" and hpa["minReplicas"] >= 2
    assert ("PodDisruptionBudget", "streamrec-api") in base
    assert ("PodDisruptionBudget", "streamrec-worker") in base

    def device(docs):
        return {e["name"]: e["value"] for e in containers(docs)["scorer"]["env"]}[
            "STREAMREC_SCORER_DEVICE"]
    assert device(base) == "cpu" and device(gpu) == "cuda"
    assert "nvidia.com/gpu" not in containers(base)["scorer"]["resources"]["limits"]
    assert containers(gpu)["scorer"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
