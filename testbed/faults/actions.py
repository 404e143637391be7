"""Small operations the fault definitions share, done the way the Kubernetes API would do them."""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..clock import iso
from ..objects import Pod
from .model import ActiveFault, FaultError

if TYPE_CHECKING:
    from ..cluster import Cluster
    from ..objects import Deployment


def rng_for(cluster: Cluster, fault: ActiveFault) -> random.Random:
    """A generator private to one fault: the same seed and fault id pick the same pods."""
    number = int(fault.id.rsplit("-", 1)[-1])
    return random.Random(cluster.seed * 1_000_003 + number)


def deployment(cluster: Cluster, fault: ActiveFault, service: str | None = None) -> Deployment:
    name = service or fault.target.service
    dep = cluster.deployments.get((fault.target.namespace, name or ""))
    if dep is None:
        raise FaultError(f"no deployment {fault.target.namespace}/{name}")
    return dep


def live_pods(cluster: Cluster, namespace: str, service: str) -> list[Pod]:
    pods = cluster.pods_by_ns.get(namespace, {}).values()
    return sorted(
        (
            p
            for p in pods
            if p.rs is not None
            and p.rs.deployment is not None
            and p.rs.deployment.name == service
            and not p.deleting
        ),
        key=lambda p: p.name,
    )


def pick_pods(cluster: Cluster, fault: ActiveFault, count: int) -> list[Pod]:
    assert fault.target.service is not None
    pods = live_pods(cluster, fault.target.namespace, fault.target.service)
    if not pods:
        raise FaultError(f"service {fault.target.namespace}/{fault.target.service} has no pods")
    return rng_for(cluster, fault).sample(pods, min(count, len(pods)))


def patch_deployment(
    cluster: Cluster, dep: Deployment, mutate: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Change a deployment's spec as a patch through the API would; return the old spec."""
    old = copy.deepcopy(dep.spec)
    spec = copy.deepcopy(dep.spec)
    mutate(spec)
    cluster.apply_deployment(
        dep.meta.namespace or "",
        dep.name,
        {"labels": dep.meta.labels, "annotations": dep.meta.annotations},
        spec,
    )
    return old


def restore_deployment(cluster: Cluster, dep: Deployment, spec: dict[str, Any]) -> None:
    """Put a saved spec back (a rollback reuses the old ReplicaSet, as ``rollout undo`` does)."""
    if cluster.deployments.get((dep.meta.namespace or "", dep.name)) is not dep:
        return
    cluster.apply_deployment(
        dep.meta.namespace or "",
        dep.name,
        {"labels": dep.meta.labels, "annotations": dep.meta.annotations},
        copy.deepcopy(spec),
    )


def restart(cluster: Cluster, dep: Deployment) -> None:
    """``kubectl rollout restart``: stamp the pod template so every pod is replaced."""

    def stamp(spec: dict[str, Any]) -> None:
        meta = spec["template"].setdefault("metadata", {})
        meta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = iso(cluster.now)

    patch_deployment(cluster, dep, stamp)


def container(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["template"]["spec"]["containers"][0]


def next_version(image: str, minor: bool = False) -> str:
    """The next patch (or minor) version of an image tag: ``app:v1.8.3`` → ``app:v1.8.4``."""
    repo, _, tag = image.rpartition(":")
    if not repo:
        return f"{image}:v1.0.1"
    prefix = "v" if tag.startswith("v") else ""
    parts = tag.lstrip("v").split(".")
    numbers = [int(p) if p.isdigit() else 0 for p in parts] + [0, 0, 0]
    major, mid, patch = numbers[:3]
    if minor:
        return f"{repo}:{prefix}{major}.{mid + 1}.0"
    return f"{repo}:{prefix}{major}.{mid}.{patch + 1}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
