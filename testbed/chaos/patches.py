"""Kubernetes "bad patches" that ``chaostoolkit-kubernetes`` lacks, and their restore actions.

Each is one API call (or a read and a patch) made with the official client that
``chaosk8s.create_k8s_api_client(secrets)`` builds (``KUBERNETES_HOST``, a kubeconfig, or the
``secrets`` given), so they work against any cluster and against the testbed alike:

- :func:`set_service_target_port` (fault ``service-port``), undone by
  :func:`restore_service_target_port`;
- :func:`set_node_selector` (``node-selector``), undone by :func:`rollback_deployment` and
  :func:`set_deployment_strategy`;
- :func:`set_cpu_limit` (``cpu-limit``), undone by :func:`rollback_deployment`;
- :func:`rotate_secret_password` and ``chaosk8s``'s ``rollout_deployment`` of the database
  (``db-auth``), undone by :func:`restart_secret_consumers`.

:func:`rollback_deployment` is ``kubectl rollout undo``: it reads the deployment's ReplicaSets,
copies the wanted revision's pod template (without ``pod-template-hash``) and JSON-patches it in.
API errors become :class:`~chaoslib.exceptions.ActivityFailed` naming the object and the status.
"""

import base64
import copy
import json
import logging
import random
import string
from collections.abc import Mapping
from typing import Any

from chaosk8s import create_k8s_api_client
from chaosk8s.deployment.actions import rollout_deployment
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

__all__ = [
    "restart_secret_consumers",
    "restore_service_target_port",
    "rollback_deployment",
    "rotate_secret_password",
    "set_cpu_limit",
    "set_deployment_strategy",
    "set_node_selector",
    "set_service_target_port",
]
log = logging.getLogger(__name__)
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
PASSWORD_ALPHABET = string.ascii_letters + string.digits


def _failed(what: str, exc: ApiException) -> ActivityFailed:
    try:
        message = json.loads(exc.body or "")["message"]
    except (TypeError, ValueError, KeyError):
        message = exc.reason
    return ActivityFailed(f"{what}: {exc.status}: {message}")


def _core(secrets: Secrets) -> client.CoreV1Api:
    return client.CoreV1Api(create_k8s_api_client(secrets))


def _apps(secrets: Secrets) -> client.AppsV1Api:
    return client.AppsV1Api(create_k8s_api_client(secrets))


def _raw(response: Any) -> dict[str, Any]:
    """The JSON of a ``_preload_content=False`` response, exactly as the server sent it."""
    data: dict[str, Any] = json.loads(response.data)
    return data


# ---------------------------------------------------------------------- services


def set_service_target_port(
    name: str, ns: str = "default", port: int | str | None = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Point the Service's first port at ``port`` (default: one the pods do not listen on).

    The pods stay Running and Ready; every connection to the Service is refused.
    """
    core = _core(secrets)
    try:
        svc = _raw(core.read_namespaced_service(name, ns, _preload_content=False))
        first = svc["spec"]["ports"][0]
        current = first.get("targetPort", first["port"])
        if port is not None and port != "":
            new: int | str = int(port) if str(port).isdigit() else str(port)
        else:
            new = current + 1 if isinstance(current, int) else first["port"] + 1
        patch = [{"op": "add", "path": "/spec/ports/0/targetPort", "value": new}]
        core.patch_namespaced_service(name, ns, patch)
    except ApiException as exc:
        raise _failed(f"cannot change the targetPort of service {ns}/{name}", exc) from exc
    log.info("service %s/%s: targetPort %s -> %s", ns, name, current, new)
    return {"service": name, "namespace": ns, "from": current, "to": new}


def _workload_port(apps: client.AppsV1Api, ns: str, selector: Mapping[str, str], name: str) -> int:
    """The container port of the deployment whose pods the Service selects."""
    for dep in _raw(apps.list_namespaced_deployment(ns, _preload_content=False))["items"]:
        template = dep["spec"]["template"]
        labels = template.get("metadata", {}).get("labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            ports = [p for c in template["spec"]["containers"] for p in c.get("ports") or []]
            named = [p for p in ports if name and p.get("name") == name]
            if named or ports:
                return int((named or ports)[0]["containerPort"])
    raise ActivityFailed(f"no deployment in {ns} with a container port selected by {selector}")


def restore_service_target_port(
    name: str, ns: str = "default", secrets: Secrets = None
) -> dict[str, Any]:
    """Point the Service's first port back at the port its pods' container listens on."""
    api = create_k8s_api_client(secrets)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    try:
        svc = _raw(core.read_namespaced_service(name, ns, _preload_content=False))
        first = svc["spec"]["ports"][0]
        port = _workload_port(apps, ns, svc["spec"].get("selector") or {}, first.get("name", ""))
        patch = [{"op": "add", "path": "/spec/ports/0/targetPort", "value": port}]
        core.patch_namespaced_service(name, ns, patch)
    except ApiException as exc:
        raise _failed(f"cannot restore the targetPort of service {ns}/{name}", exc) from exc
    current = first.get("targetPort", first["port"])
    log.info("service %s/%s: targetPort %s -> %s", ns, name, current, port)
    return {"service": name, "namespace": ns, "from": current, "to": port}


# ---------------------------------------------------------------------- deployments


def _strategy(strategy: str, max_surge: str, max_unavailable: str) -> dict[str, Any]:
    if strategy == "Recreate":
        return {"type": "Recreate", "rollingUpdate": None}
    if strategy == "RollingUpdate":
        rolling = {"maxSurge": max_surge, "maxUnavailable": max_unavailable}
        return {"type": "RollingUpdate", "rollingUpdate": rolling}
    raise ActivityFailed(f"strategy must be Recreate or RollingUpdate, got {strategy!r}")


def _mapping(value: Mapping[str, str] | str | None, default: dict[str, str]) -> dict[str, str]:
    """A label mapping given as a mapping or as ``"key=value,key2=value2"``."""
    if not value:
        return dict(default)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    pairs = [item.split("=", 1) for item in str(value).split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ActivityFailed(f"expected key=value[,key=value...], got {value!r}")
    return {k.strip(): v.strip() for k, v in pairs}


def _patch_deployment(secrets: Secrets, name: str, ns: str, body: Any, what: str) -> None:
    try:
        _apps(secrets).patch_namespaced_deployment(name, ns, body)
    except ApiException as exc:
        raise _failed(f"cannot {what} of deployment {ns}/{name}", exc) from exc


def set_node_selector(
    name: str,
    ns: str = "default",
    node_selector: Mapping[str, str] | str | None = None,
    strategy: str = "Recreate",
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Re-apply the deployment with a ``nodeSelector`` (default ``nodepool=highmem``).

    With ``strategy="Recreate"`` (what stateful services use, and the default here) the old
    pods terminate before the new ones, which stay Pending if no node matches.
    """
    selector = _mapping(node_selector, {"nodepool": "highmem"})
    spec: dict[str, Any] = {"template": {"spec": {"nodeSelector": selector}}}
    if strategy:
        spec["strategy"] = _strategy(strategy, "25%", "25%")
    _patch_deployment(secrets, name, ns, {"spec": spec}, "set the node selector")
    log.info("deployment %s/%s: nodeSelector %s, strategy %s", ns, name, selector, strategy)
    return {"deployment": name, "namespace": ns, "nodeSelector": selector, "strategy": strategy}


def set_deployment_strategy(
    name: str,
    ns: str = "default",
    strategy: str = "RollingUpdate",
    max_surge: str = "25%",
    max_unavailable: str = "25%",
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Set the deployment's update strategy (restores what :func:`set_node_selector` changed)."""
    body = {"spec": {"strategy": _strategy(strategy, max_surge, max_unavailable)}}
    _patch_deployment(secrets, name, ns, body, "set the strategy")
    return {"deployment": name, "namespace": ns, "strategy": strategy}


def _cpu(value: float | str) -> str:
    """A CPU quantity: cores as a number (``0.05``) become millicores (``50m``)."""
    if isinstance(value, int | float) or str(value).replace(".", "", 1).isdigit():
        return f"{max(1, round(float(value) * 1000))}m"
    return str(value)


def set_cpu_limit(
    name: str,
    ns: str = "default",
    cpu: float | str = "50m",
    container: str | None = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Set a container's CPU limit and request to ``cpu`` (cores or a quantity): a new revision.

    The container is ``container`` or the pod template's first.
    """
    apps = _apps(secrets)
    try:
        dep = _raw(apps.read_namespaced_deployment(name, ns, _preload_content=False))
    except ApiException as exc:
        raise _failed(f"cannot read deployment {ns}/{name}", exc) from exc
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    target = container or names[0]
    if target not in names:
        raise ActivityFailed(f"deployment {ns}/{name} has no container {target!r} ({names})")
    quantity = _cpu(cpu)
    resources = {"limits": {"cpu": quantity}, "requests": {"cpu": quantity}}
    body = {
        "spec": {"template": {"spec": {"containers": [{"name": target, "resources": resources}]}}}
    }
    _patch_deployment(secrets, name, ns, body, "set the CPU limit")
    log.info("deployment %s/%s: container %s cpu %s", ns, name, target, quantity)
    return {"deployment": name, "namespace": ns, "container": target, "cpu": quantity}


def rollback_deployment(
    name: str, ns: str = "default", to_revision: int | str = 0, secrets: Secrets = None
) -> dict[str, Any]:
    """``kubectl rollout undo``: back to the previous revision (or ``to_revision``).

    Reads the ReplicaSets the deployment owns, copies the wanted revision's pod template
    without its ``pod-template-hash`` label, and JSON-patches it into the deployment; the
    deployment controller then scales that ReplicaSet back up.
    """
    apps = _apps(secrets)
    try:
        dep = _raw(apps.read_namespaced_deployment(name, ns, _preload_content=False))
        if dep["spec"].get("paused"):
            raise ActivityFailed(f"deployment {ns}/{name} is paused; resume it before rolling back")
        labels = dep["spec"]["selector"].get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        listing = apps.list_namespaced_replica_set(
            ns, label_selector=selector, _preload_content=False
        )
        uid = dep["metadata"]["uid"]
        revisions: dict[int, dict[str, Any]] = {}
        for rs in _raw(listing)["items"]:
            meta = rs["metadata"]
            owned = any(
                o.get("controller") and o.get("uid") == uid for o in meta.get("ownerReferences", [])
            )
            revision = (meta.get("annotations") or {}).get(REVISION)
            if owned and revision:
                revisions[int(revision)] = rs
        current = int((dep["metadata"].get("annotations") or {}).get(REVISION, 0))
        wanted = int(to_revision or 0)
        if not wanted:
            older = [r for r in revisions if r < current]
            if not older:
                raise ActivityFailed(f"no rollout history found for deployment {ns}/{name}")
            wanted = max(older)
        if wanted not in revisions:
            raise ActivityFailed(f"unable to find revision {wanted} of deployment {ns}/{name}")
        template = copy.deepcopy(revisions[wanted]["spec"]["template"])
        template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
        if template == dep["spec"]["template"]:
            log.info("deployment %s/%s already matches revision %d", ns, name, wanted)
            return {"deployment": name, "namespace": ns, "skipped": True, "revision": wanted}
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        apps.patch_namespaced_deployment(name, ns, patch)
    except ApiException as exc:
        raise _failed(f"cannot roll back deployment {ns}/{name}", exc) from exc
    log.info("deployment %s/%s rolled back from revision %d to %d", ns, name, current, wanted)
    return {"deployment": name, "namespace": ns, "from_revision": current, "to_revision": wanted}


# ---------------------------------------------------------------------- secrets


def rotate_secret_password(
    name: str,
    ns: str = "default",
    key: str = "password",
    length: int | str = 20,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Write a new random password under ``key`` of Secret ``name`` (the value is not returned).

    Pods read the Secret when their container starts: restart the server
    (``chaosk8s.deployment.actions.rollout_deployment``) and its clients keep the old password.
    """
    core = _core(secrets)
    rng = random.SystemRandom()
    password = "".join(rng.choice(PASSWORD_ALPHABET) for _ in range(int(length)))
    body = {"data": {key: base64.b64encode(password.encode()).decode()}}
    try:
        core.read_namespaced_secret(name, ns)
        core.patch_namespaced_secret(name, ns, body)
    except ApiException as exc:
        raise _failed(f"cannot rotate the password in secret {ns}/{name}", exc) from exc
    log.info("secret %s/%s: %s rotated", ns, name, key)
    return {"secret": name, "namespace": ns, "key": key}


def _reads_secret(template: Mapping[str, Any], secret: str) -> bool:
    spec = template["spec"]
    for c in spec["containers"]:
        for env in c.get("env") or []:
            if (env.get("valueFrom") or {}).get("secretKeyRef", {}).get("name") == secret:
                return True
        for source in c.get("envFrom") or []:
            if (source.get("secretRef") or {}).get("name") == secret:
                return True
    volumes = spec.get("volumes") or []
    return any((v.get("secret") or {}).get("secretName") == secret for v in volumes)


def restart_secret_consumers(
    secret_name: str, ns: str = "default", secrets: Secrets = None
) -> list[str]:
    """Restart every deployment whose pods read Secret ``secret_name`` (env, envFrom, volume).

    What a reloader does after a rotation: the new pods read the current Secret. Uses
    ``chaosk8s.deployment.actions.rollout_deployment``.
    """
    try:
        listing = _apps(secrets).list_namespaced_deployment(ns, _preload_content=False)
    except ApiException as exc:
        raise _failed(f"cannot list deployments in {ns}", exc) from exc
    names = [
        str(d["metadata"]["name"])
        for d in _raw(listing)["items"]
        if _reads_secret(d["spec"]["template"], secret_name)
    ]
    if not names:
        raise ActivityFailed(f"no deployment in {ns} reads secret {secret_name!r}")
    for name in names:
        rollout_deployment(name=name, ns=ns, secrets=secrets)
    log.info("restarted the readers of secret %s/%s: %s", ns, secret_name, ", ".join(names))
    return names
