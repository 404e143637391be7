"""Application files: the services of a simulated application, their call graph and the cluster.

An application file is YAML (see ``testbed/apps/hotel-reservation.yaml``). It names the services,
each with its image, replicas, resources, performance parameters and the services it calls; the
cluster's node pools; and optionally a default load profile and timing overrides. Names and
topology live only in application files: nothing else in the testbed hard-codes a service.

:func:`load_app` validates a file and raises :class:`~testbed.errors.AppSpecError` naming the
offending service or field: a call to a missing service, a cycle in the call graph, a bad
quantity, a duplicate name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import AppSpecError, QuantityError
from .k8s.quantity import parse_cpu, parse_memory
from .load import load_profile_from_mapping
from .timing import Timing

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_APP = "hotel-reservation"


def _check_name(value: str) -> str:
    if not DNS_LABEL.match(value) or len(value) > 63:
        raise ValueError(f"{value!r} is not a valid DNS-1123 label (lower case, digits, '-')")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Model):
    cpu_request: str = "100m"
    cpu_limit: str | None = "1"
    memory_request: str = "64Mi"
    memory_limit: str | None = "256Mi"

    @field_validator("cpu_request", "cpu_limit")
    @classmethod
    def _cpu(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_cpu(v)
            except QuantityError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("memory_request", "memory_limit")
    @classmethod
    def _mem(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_memory(v)
            except QuantityError as exc:
                raise ValueError(str(exc)) from None
        return v


class Call(_Model):
    service: str
    ratio: float = Field(1.0, gt=0, description="calls to this dependency per request served")


class ServiceSpec(_Model):
    """One service of the application: a Deployment, its pods and a Service of the same name."""

    name: str
    kind: Literal["web", "service", "cache", "database"] = "service"
    image: str
    replicas: int = Field(1, ge=0)
    port: int = Field(8080, ge=1, le=65535)
    port_name: str = "http"
    resources: Resources = Resources()
    workers: int = Field(16, ge=1, description="requests one pod serves concurrently")
    service_ms: float = Field(5.0, gt=0, description="own processing time per request")
    cpu_ms: float = Field(2.0, gt=0, description="CPU time per request")
    idle_cpu: str = "5m"
    memory_base: str = "48Mi"
    memory_per_inflight: str = "256Ki"
    timeout_ms: float = Field(1000.0, gt=0, description="timeout on calls to dependencies")
    error_ratio: float = Field(0.0, ge=0, le=1, description="baseline application errors")
    calls: tuple[Call, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    spread: Literal["none", "preferred", "required"] = "preferred"
    min_available: int | str | None = None
    readiness_delay_s: float | None = Field(None, ge=0)
    credentials: bool = Field(
        False,
        description="clients authenticate with a password from the Secret <name>-credentials",
    )

    _name = field_validator("name")(_check_name)

    @field_validator("idle_cpu")
    @classmethod
    def _idle(cls, v: str) -> str:
        try:
            parse_cpu(v)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("memory_base", "memory_per_inflight")
    @classmethod
    def _membase(cls, v: str) -> str:
        try:
            parse_memory(v)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
        return v


class NodePool(_Model):
    name: str
    count: int = Field(ge=0)
    cpu: str = "8"
    memory: str = "32Gi"
    max_pods: int = Field(110, ge=1)
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    instance_type: str = "m5.2xlarge"
    labels: dict[str, str] = Field(default_factory=dict)

    _name = field_validator("name")(_check_name)

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str) -> str:
        try:
            parse_cpu(v)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        try:
            parse_memory(v)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a node pool needs at least one zone")
        return v


class ClusterSpec(_Model):
    node_pools: tuple[NodePool, ...] = (NodePool(name="pool", count=10),)


class SLOSpec(_Model):
    """A service level objective on requests into a service (what its callers see)."""

    service: str
    latency_quantile: float = Field(0.99, gt=0, lt=1)
    latency_ms: float | None = Field(500.0, gt=0)
    error_ratio: float | None = Field(0.01, ge=0, le=1)
    window_s: float = Field(300.0, gt=0)


class AppSpec(_Model):
    """A whole application file."""

    name: str
    namespace: str
    entry: str
    services: tuple[ServiceSpec, ...]
    cluster: ClusterSpec = ClusterSpec()
    load: dict[str, Any] | None = None
    timing: dict[str, float] = Field(default_factory=dict)
    slos: tuple[SLOSpec, ...] = ()

    _ns = field_validator("namespace")(_check_name)

    @field_validator("load")
    @classmethod
    def _load(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            load_profile_from_mapping(v)  # LoadSpecError is a ValueError
        return v

    @field_validator("timing")
    @classmethod
    def _timing(cls, v: dict[str, float]) -> dict[str, float]:
        try:
            Timing().with_overrides(v)
        except AppSpecError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _graph(self) -> AppSpec:
        names = [s.name for s in self.services]
        if not names:
            raise ValueError("an application needs at least one service")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"service(s) defined twice: {', '.join(dupes)}")
        known = set(names)
        if self.entry not in known:
            raise ValueError(f"entry service {self.entry!r} is not defined")
        for svc in self.services:
            for call in svc.calls:
                if call.service not in known:
                    raise ValueError(
                        f"service {svc.name!r} calls {call.service!r}, which is not defined"
                    )
                if call.service == svc.name:
                    raise ValueError(f"service {svc.name!r} calls itself")
        cycle = find_cycle({s.name: [c.service for c in s.calls] for s in self.services})
        if cycle:
            raise ValueError(f"the call graph has a cycle: {' -> '.join(cycle)}")
        for slo in self.slos:
            if slo.service not in known:
                raise ValueError(f"an SLO names service {slo.service!r}, which is not defined")
        return self

    def callers(self, name: str) -> list[str]:
        """Services that call ``name`` directly."""
        return [s.name for s in self.services if any(c.service == name for c in s.calls)]

    def effective_slos(self) -> tuple[SLOSpec, ...]:
        """The file's SLOs, or a default one on the entry service."""
        return self.slos or (SLOSpec(service=self.entry),)

    def service(self, name: str) -> ServiceSpec:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def topological_order(self) -> list[str]:
        """Services with every caller before its callees (the entry first)."""
        graph = {s.name: [c.service for c in s.calls] for s in self.services}
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for callee in graph[name]:
                visit(callee)
            order.append(name)

        for name in [self.entry, *graph]:
            visit(name)
        return order[::-1]


def find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in a directed graph as a list of names (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in graph:
        if state.get(start) is None:
            found = dfs(start)
            if found:
                return found
    return None


def _format_error(exc: ValidationError, source: str, data: Mapping[str, Any]) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(_loc_part(err["loc"], i, data) for i in range(len(err["loc"])))
        loc = loc.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"invalid application file {source}: " + "; ".join(parts)


def _loc_part(loc: tuple[int | str, ...], i: int, data: Mapping[str, Any]) -> str:
    """One part of an error location; a service's index becomes its name (``services[geo]``)."""
    part = loc[i]
    if i == 1 and loc[0] == "services" and isinstance(part, int):
        services = data.get("services")
        if isinstance(services, list) and part < len(services):
            svc = services[part]
            if isinstance(svc, Mapping) and isinstance(svc.get("name"), str):
                return f"[{svc['name']}]"
    return str(part)


def parse_app(data: Any, source: str = "<data>") -> AppSpec:
    """Validate already-loaded YAML data as an application."""
    if not isinstance(data, Mapping):
        raise AppSpecError(f"invalid application file {source}: expected a mapping at the top")
    try:
        return AppSpec.model_validate(data)
    except ValidationError as exc:
        raise AppSpecError(_format_error(exc, source, data)) from None


def builtin_apps() -> list[str]:
    """Names of the application files shipped with the testbed."""
    folder = resources.files("testbed") / "apps"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_app(path: str | Path | None = None) -> AppSpec:
    """Load an application file: a path, the name of a shipped one, or None for the default."""
    if path is None:
        path = DEFAULT_APP
    text: str
    source = str(path)
    candidate = Path(path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as exc:
            raise AppSpecError(f"cannot read application file {source}: {exc.strerror}") from None
    else:
        res = resources.files("testbed") / "apps" / f"{path}.yaml"
        if not res.is_file():
            raise AppSpecError(
                f"no application file {source!r}; shipped ones: {', '.join(builtin_apps())}"
            )
        text = res.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AppSpecError(f"application file {source} is not valid YAML: {exc}") from None
    return parse_app(data, source)
