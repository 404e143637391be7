"""Chaos Toolkit actions: faults of the testbed's library, and Kubernetes "bad patches".

Fault actions talk to the testbed's token-protected ``/testbed/faults``:

- :func:`declare_fault` records the ground truth of a fault whose change the experiment makes
  itself through the Kubernetes API (``chaostoolkit-kubernetes`` actions): nothing is applied.
- :func:`inject_fault` has the testbed apply a fault the Kubernetes API cannot express
  (memory-leak, node-failure, noisy-neighbour, load-flood, demand-growth, bad-release,
  crash-loop).
- :func:`clear_fault` and :func:`clear_faults` undo injected faults and mark declared ones
  cleared; experiments call them in their rollbacks.

The Kubernetes actions (:func:`set_service_target_port`, :func:`set_node_selector`,
:func:`set_cpu_limit`, :func:`rotate_secret_password`, :func:`rollback_deployment` and their
restore actions) use the official client built by ``chaosk8s.create_k8s_api_client``, like every
``chaostoolkit-kubernetes`` action; see :mod:`testbed.chaos.patches`.

A fault's ``target`` is a service (``"search"``), a node (``"node/general-001"``), a call edge
(``"search->geo"``), ``"app"``, or the same as a mapping (``{"service": "search"}``).
"""

import logging
from collections.abc import Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from ..faults import parse_target
from .client import call
from .patches import (
    restart_secret_consumers,
    restore_service_target_port,
    rollback_deployment,
    rotate_secret_password,
    set_cpu_limit,
    set_deployment_strategy,
    set_node_selector,
    set_service_target_port,
)

__all__ = [
    "clear_fault",
    "clear_faults",
    "declare_fault",
    "inject_fault",
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
Target = str | Mapping[str, str] | None


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ActivityFailed(f"{what} must be a number, got {value!r}") from None


def _fault_body(
    name: str, target: Target, namespace: str | None, strength: float | str | None
) -> dict[str, Any]:
    if not name:
        raise ActivityFailed("a fault name is required (see 'aiops testbed faults')")
    body: dict[str, Any] = {"name": name}
    if target:
        body["target"] = dict(target) if isinstance(target, Mapping) else str(target)
    if namespace:
        body["namespace"] = namespace
    if strength is not None and strength != "":
        body["strength"] = _number(strength, "strength")
    return body


def declare_fault(
    name: str,
    target: Target = None,
    namespace: str | None = None,
    strength: float | str | None = None,
    root: str | list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Record the ground truth of fault ``name`` without applying it.

    For faults the experiment injects itself through the Kubernetes API; call it just before
    the change. ``root`` names the root cause when the target alone does not (the nodes a
    ``cordon-capacity`` experiment drains). Returns the fault's truth record.
    """
    body = _fault_body(name, target, namespace, strength) | {"declare_only": True}
    if root:
        body["root"] = root if isinstance(root, str) else ",".join(root)
    fault: dict[str, Any] = call(configuration, secrets, "POST", "/testbed/faults", body)
    log.info("declared %s (%s) on %s", fault["id"], name, fault["root_cause"]["name"])
    return fault


def inject_fault(
    name: str,
    target: Target = None,
    namespace: str | None = None,
    strength: float | str | None = None,
    delay_s: float | str = 0.0,
    duration_s: float | str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Have the testbed apply fault ``name`` (after ``delay_s``, for ``duration_s`` if given).

    Delay and duration are simulated seconds. Returns the fault's truth record.
    """
    body = _fault_body(name, target, namespace, strength)
    body["delay_s"] = _number(delay_s or 0.0, "delay_s")
    if duration_s is not None and duration_s != "":
        body["duration_s"] = _number(duration_s, "duration_s")
    fault: dict[str, Any] = call(configuration, secrets, "POST", "/testbed/faults", body)
    log.info("injected %s (%s) on %s", fault["id"], name, fault["root_cause"]["name"])
    return fault


def _matches(fault: Mapping[str, Any], name: str, target: Target, namespace: str | None) -> bool:
    if fault["name"] != name or fault["state"] == "cleared":
        return False
    have = fault["target"]
    if namespace and have.get("namespace") != namespace:
        return False
    want = parse_target(target) if isinstance(target, str) else dict(target or {})
    return all(have.get(key) == value for key, value in want.items())


def clear_fault(
    fault_id: str | None = None,
    name: str | None = None,
    target: Target = None,
    namespace: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Clear the fault ``fault_id``, or every active fault ``name`` (on ``target``, if given).

    Injected faults are undone; declared ones are marked cleared (the experiment's own
    rollbacks undo their change). Clearing by name finds nothing to clear without failing,
    so a rollback may run after a method that failed before declaring its fault.
    """
    if fault_id:
        return [call(configuration, secrets, "DELETE", f"/testbed/faults/{fault_id}")]
    if not name:
        raise ActivityFailed("clear_fault needs a fault_id or the name of the fault to clear")
    faults = call(configuration, secrets, "GET", "/testbed/faults")["faults"]
    cleared = [
        call(configuration, secrets, "DELETE", f"/testbed/faults/{f['id']}")
        for f in faults
        if _matches(f, name, target, namespace)
    ]
    if not cleared:
        log.warning("no active fault %s on %s to clear", name, target or "any target")
    return cleared


def clear_faults(
    configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Clear every active fault of the testbed."""
    cleared: list[dict[str, Any]] = call(configuration, secrets, "DELETE", "/testbed/faults")[
        "cleared"
    ]
    return cleared
