"""Injecting faults into a cluster: validation, onset, duration, clearing, Chaos Mesh objects.

:class:`FaultEngine` is attached to every :class:`~testbed.cluster.Cluster`. A fault is
validated completely before anything changes (unknown fault, namespace, service, node or call
edge, strength out of range: :class:`FaultError`, cluster untouched), then applied at its onset.
Its record in ``cluster.faults`` is the ground truth the truth endpoint serves.

Chaos Mesh resources (``NetworkChaos`` delay/loss, ``StressChaos`` cpu, ``PodChaos`` pod-kill and
pod-failure) created through the Kubernetes API are honoured: creating one injects the matching
fault, deleting it (or its ``duration`` passing) clears it.

Faults that experiments inject with ``chaostoolkit-kubernetes`` itself are only *declared* here
(``declare_only``): the truth is recorded, the change is made through the Kubernetes API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .behaviour import Behaviours
from .library import FAULTS
from .model import ActiveFault, FaultDef, FaultError, Injection, Target

if TYPE_CHECKING:
    from ..cluster import Cluster

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Chaos Mesh / Go duration such as ``30s``, ``5m``, ``1h``, ``1m30s``."""
    total = 0.0
    rest = text.strip()
    if not rest:
        raise FaultError("empty duration")
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", rest):
        total += float(number) * DURATION_UNITS[unit]
    if re.sub(r"(\d+(?:\.\d+)?)(ms|s|m|h)", "", rest):
        raise FaultError(f"invalid duration {text!r} (expected e.g. 30s, 5m, 1h30m)")
    return total


def parse_target(text: str) -> dict[str, str]:
    """CLI form of a target: ``search``, ``node/pool-001``, ``search->geo``, ``app``."""
    text = text.strip()
    if "->" in text:
        source, destination = (p.strip() for p in text.split("->", 1))
        return {"source": source, "destination": destination}
    if text.startswith("node/"):
        return {"node": text[5:]}
    if text in ("", "app"):
        return {}
    return {"service": text}


class FaultEngine:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.seq = 0
        self.behaviours = Behaviours(cluster)
        cluster.behaviours = self.behaviours
        cluster.tick_hooks.append(self.tick)
        cluster.custom_hooks.append(self.on_custom)

    # ------------------------------------------------------------------ validation

    def definition(self, name: str) -> FaultDef:
        fault = FAULTS.get(name)
        if fault is None:
            raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(sorted(FAULTS))}")
        return fault

    def _namespace(self, namespace: str | None) -> str:
        apps = [inst.namespace for inst in self.cluster.apps]
        if namespace is None:
            return apps[0]
        if namespace not in apps:
            raise FaultError(
                f"no application in namespace {namespace!r}; applications run in: {', '.join(apps)}"
            )
        return namespace

    def resolve(
        self, fault: FaultDef, target: Mapping[str, Any] | str | None, namespace: str | None
    ) -> tuple[Target, str]:
        """The target as a :class:`Target` and the root cause's name; FaultError if invalid."""
        spec: dict[str, Any] = (
            parse_target(target) if isinstance(target, str) else dict(target or {})
        )
        ns = self._namespace(spec.pop("namespace", None) or namespace)
        cluster = self.cluster
        inst = cluster.apps[cluster.traffic.app_index(ns)]
        services = [s.name for s in inst.spec.services]
        if fault.target == "service":
            name = spec.get("service")
            if not name:
                raise FaultError(
                    f"fault {fault.name} needs a service target (one of: {', '.join(services)})"
                )
            if (ns, name) not in cluster.deployments:
                raise FaultError(f"no service {name!r} in {ns}; services: {', '.join(services)}")
            return Target(ns, service=name), name
        if fault.target == "node":
            node = spec.get("node")
            if not node or node not in cluster.nodes:
                raise FaultError(
                    f"fault {fault.name} needs a node target (one of: {', '.join(cluster.nodes)})"
                )
            return Target(ns, node=node), node
        if fault.target == "edge":
            src, dst = spec.get("source"), spec.get("destination")
            if not src or not dst:
                raise FaultError(
                    f"fault {fault.name} needs a call edge target 'source->destination'"
                )
            for name in (src, dst):
                if name not in services:
                    raise FaultError(
                        f"no service {name!r} in {ns}; services: {', '.join(services)}"
                    )
            try:
                cluster.traffic.edge_between(ns, src, dst)
            except KeyError:
                raise FaultError(f"{src} does not call {dst} in {ns}") from None
            return Target(ns, source=src, destination=dst), src
        return Target(ns), inst.spec.entry

    def _check_root(self, fault: FaultDef, target: Target, root: str) -> str:
        """A declared root cause must name nodes, pods or the service the fault says."""
        names = [n.strip() for n in root.split(",") if n.strip()]
        if not names:
            raise FaultError("root: empty")
        cluster = self.cluster
        for name in names:
            if fault.root == "node" and name not in cluster.nodes:
                raise FaultError(f"root: no node {name!r}")
            if (
                fault.root == "pod"
                and (target.namespace, name) not in cluster.pods
                and (target.namespace, name) not in cluster.deployments
            ):
                raise FaultError(f"root: no pod or service {name!r} in {target.namespace}")
        return ",".join(names)

    def _strength(self, fault: FaultDef, strength: float | None) -> float:
        if strength is None:
            return float(fault.strength.default)
        value = float(strength)
        s = fault.strength
        if not s.minimum <= value <= s.maximum:
            raise FaultError(
                f"strength of {fault.name} must be between {s.minimum:g} and "
                f"{s.maximum:g} {s.unit} ({s.meaning}), got {value:g}"
            )
        return value

    # ------------------------------------------------------------------ inject and clear

    def inject(
        self,
        name: str,
        target: Mapping[str, Any] | str | None = None,
        *,
        namespace: str | None = None,
        strength: float | None = None,
        delay_s: float = 0.0,
        duration_s: float | None = None,
        via: Injection | None = None,
        declare_only: bool = False,
        source_object: str | None = None,
        root: str | None = None,
    ) -> ActiveFault:
        """Validate, record and (at its onset) apply a fault; nothing changes if invalid."""
        fault_def = self.definition(name)
        resolved, root_name = self.resolve(fault_def, target, namespace)
        if root is not None:
            if not declare_only:
                raise FaultError("only a declared fault names its root cause itself")
            root_name = self._check_root(fault_def, resolved, root)
        value = self._strength(fault_def, strength)
        if delay_s < 0:
            raise FaultError(f"onset must not be in the past (delay {delay_s} s)")
        if duration_s is not None and duration_s <= 0:
            raise FaultError(f"duration must be positive, got {duration_s}")
        self.seq += 1
        fault = ActiveFault(
            id=f"fault-{self.seq}",
            fault=fault_def,
            target=resolved,
            strength=value,
            onset=self.cluster.now + delay_s,
            duration=duration_s,
            via=via or fault_def.injection,
            declared_only=declare_only,
            source_object=source_object,
            root_name=root_name,
        )
        if delay_s <= 0:
            try:
                self._activate(fault)
            except FaultError:
                self.seq -= 1
                raise
        self.cluster.faults.append(fault)
        return fault

    def _activate(self, fault: ActiveFault) -> None:
        if not fault.declared_only:
            fault.fault.apply(self.cluster, fault)
        fault.state = "active"
        fault.injected_at = self.cluster.now

    def get(self, fault_id: str) -> ActiveFault:
        for fault in self.cluster.faults:
            if fault.id == fault_id:
                return fault
        raise FaultError(f"no fault {fault_id!r}")

    def clear(self, fault_id: str) -> ActiveFault:
        """Undo a fault (what an experiment's rollback does) and mark it cleared."""
        fault = self.get(fault_id)
        if fault.state == "active" and not fault.declared_only:
            fault.fault.revert(self.cluster, fault)
        if fault.state != "cleared":
            fault.state = "cleared"
            fault.cleared_at = self.cluster.now
        return fault

    def clear_all(self) -> list[ActiveFault]:
        return [self.clear(f.id) for f in self.active()]

    def active(self) -> list[ActiveFault]:
        return [f for f in self.cluster.faults if f.state != "cleared"]

    # ------------------------------------------------------------------ every tick

    def tick(self, cluster: Cluster) -> None:
        for fault in self.active():
            if fault.state == "scheduled" and cluster.now >= fault.onset:
                try:
                    self._activate(fault)
                except FaultError as exc:  # the target vanished before the onset
                    fault.state = "cleared"
                    fault.cleared_at = cluster.now
                    fault.undo["error"] = str(exc)
                    continue
            if fault.state != "active":
                continue
            if fault.duration is not None and cluster.now >= fault.onset + fault.duration:
                self.clear(fault.id)
                self._chaos_finished(fault)
                continue
            if fault.fault.tick is not None and not fault.declared_only:
                fault.fault.tick(cluster, fault)

    # ------------------------------------------------------------------ Chaos Mesh

    def on_custom(self, cluster: Cluster, plural: str, obj: dict[str, Any], type_: str) -> None:
        ref = f"{plural}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        for fault in self.active():
            if fault.source_object == ref and type_ in ("MODIFIED", "DELETED"):
                self.clear(fault.id)
        if type_ == "DELETED":
            return
        try:
            name, target, strength = chaos_to_fault(plural, obj)
            spec = obj.get("spec") or {}
            duration = parse_duration(spec["duration"]) if spec.get("duration") else None
            self.inject(
                name,
                target,
                strength=strength,
                duration_s=duration,
                via="chaos-mesh",
                source_object=ref,
            )
        except FaultError as exc:
            obj["status"] = {
                "conditions": [
                    {
                        "type": "Selected",
                        "status": "False",
                        "reason": "Failed",
                        "message": str(exc),
                    },
                    {"type": "AllInjected", "status": "False"},
                ]
            }
            return
        obj["status"] = {
            "experiment": {"desiredPhase": "Run"},
            "conditions": [
                {"type": "Selected", "status": "True"},
                {"type": "AllInjected", "status": "True"},
                {"type": "AllRecovered", "status": "False"},
            ],
        }

    def _chaos_finished(self, fault: ActiveFault) -> None:
        if not fault.source_object:
            return
        plural, ns, name = fault.source_object.split("/", 2)
        obj = self.cluster.custom_store("chaos-mesh.org", plural).get((ns, name))
        if obj is not None:
            obj["status"] = {
                "experiment": {"desiredPhase": "Stop"},
                "conditions": [
                    {"type": "Selected", "status": "True"},
                    {"type": "AllInjected", "status": "False"},
                    {"type": "AllRecovered", "status": "True"},
                ],
            }


def _app_label(selector: Mapping[str, Any] | None, what: str) -> str:
    labels = (selector or {}).get("labelSelectors") or {}
    app = labels.get("app") if isinstance(labels, Mapping) else None
    if not app:
        raise FaultError(
            f"the {what} selector must select one workload by its 'app' label, got {labels!r}"
        )
    return str(app)


def _selected_namespace(obj: dict[str, Any], selector: Mapping[str, Any] | None) -> str:
    spaces = (selector or {}).get("namespaces") or [obj["metadata"].get("namespace", "default")]
    return str(spaces[0])


def chaos_to_fault(plural: str, obj: dict[str, Any]) -> tuple[str, dict[str, Any], float | None]:
    """The library fault a Chaos Mesh object stands for: (name, target, strength)."""
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    ns = _selected_namespace(obj, selector)
    if plural == "networkchaos":
        action = spec.get("action")
        source = _app_label(selector, "source")
        target = spec.get("target") or {}
        destination = _app_label(target.get("selector"), "target")
        edge = {"namespace": ns, "source": source, "destination": destination}
        if action == "delay":
            latency = str((spec.get("delay") or {}).get("latency", "100ms"))
            return "network-delay", edge, parse_duration(latency) * 1000
        if action == "loss":
            loss = (spec.get("loss") or {}).get("loss", "50")
            try:
                return "network-loss", edge, float(str(loss).rstrip("%"))
            except ValueError:
                raise FaultError(f"invalid loss {loss!r}") from None
        raise FaultError(f"NetworkChaos action {action!r} is not supported (delay, loss)")
    if plural == "stresschaos":
        cpu = (spec.get("stressors") or {}).get("cpu")
        if not cpu:
            raise FaultError("StressChaos without a cpu stressor is not supported")
        cores = float(cpu.get("workers", 1)) * float(cpu.get("load", 100)) / 100.0
        return "cpu-stress", {"namespace": ns, "service": _app_label(selector, "pod")}, cores
    if plural == "podchaos":
        action = spec.get("action")
        service = _app_label(selector, "pod")
        count = 1.0
        if spec.get("mode") == "all":
            count = 10.0
        elif spec.get("mode") == "fixed":
            count = float(spec.get("value", 1))
        if action == "pod-kill":
            return "pod-kill", {"namespace": ns, "service": service}, count
        if action == "pod-failure":
            return "pod-failure", {"namespace": ns, "service": service}, count
        raise FaultError(f"PodChaos action {action!r} is not supported (pod-kill, pod-failure)")
    raise FaultError(f"{plural} is not supported by the testbed's fault library")


__all__ = ["DURATION_RE", "FaultEngine", "chaos_to_fault", "parse_duration", "parse_target"]
