"""Validation and defaulting of the Kubernetes objects the testbed accepts.

Pydantic models cover the subset of each type's schema the simulation reads; unknown fields are
kept, as they are harmless. :func:`validate` raises :class:`Invalid` with the dotted path of the
first bad field, which the API turns into a ``422 Unprocessable Entity`` ``Status`` naming it,
worded like the real API server (``spec.replicas: Invalid value: -1: ...``).
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import QuantityError, TestbedError
from .quantity import parse_quantity

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PERCENT_RE = re.compile(r"^\d+%$")


class Invalid(TestbedError):
    """An object failed validation; ``field`` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str, value: Any = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.value = value


class _M(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _quantity(v: Any) -> Any:
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise ValueError(f"quantities must match the regular expression; got {v!r}")
    try:
        parse_quantity(v)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    return v


def _int_or_percent(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("must be an integer or percentage (e.g. '25%')")
    if isinstance(v, int):
        if v < 0:
            raise ValueError("must be greater than or equal to 0")
        return v
    if isinstance(v, str) and PERCENT_RE.match(v):
        return v
    raise ValueError("must be an integer or percentage (e.g. '25%')")


class ObjectMeta(_M):
    name: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ContainerPort(_M):
    containerPort: Annotated[StrictInt, Field(ge=1, le=65535)]
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class ResourceRequirements(_M):
    requests: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None

    @field_validator("requests", "limits")
    @classmethod
    def _q(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, q in (v or {}).items():
            try:
                _quantity(q)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return v


class Probe(_M):
    initialDelaySeconds: Annotated[StrictInt, Field(ge=0)] = 0
    periodSeconds: Annotated[StrictInt, Field(ge=1)] = 10
    failureThreshold: Annotated[StrictInt, Field(ge=1)] = 3


class Container(_M):
    name: str
    image: Annotated[str, Field(min_length=1)]
    ports: list[ContainerPort] | None = None
    resources: ResourceRequirements | None = None
    readinessProbe: Probe | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v) or "." in v:
            raise ValueError(f"a lowercase RFC 1123 label must consist of a-z, 0-9 and '-': {v!r}")
        return v


class Toleration(_M):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = None
    tolerationSeconds: StrictInt | None = None


class Taint(_M):
    key: Annotated[str, Field(min_length=1)]
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    timeAdded: str | None = None


class LabelSelectorRequirement(_M):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(_M):
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


class NodeSelectorRequirement(_M):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(_M):
    matchExpressions: list[NodeSelectorRequirement] | None = None
    matchFields: list[NodeSelectorRequirement] | None = None


class NodeSelector(_M):
    nodeSelectorTerms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(_M):
    weight: Annotated[StrictInt, Field(ge=1, le=100)]
    preference: NodeSelectorTerm


class NodeAffinity(_M):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(_M):
    labelSelector: LabelSelector | None = None
    topologyKey: Annotated[str, Field(min_length=1)]
    namespaces: list[str] | None = None


class WeightedPodAffinityTerm(_M):
    weight: Annotated[StrictInt, Field(ge=1, le=100)]
    podAffinityTerm: PodAffinityTerm


class PodAffinity(_M):
    requiredDuringSchedulingIgnoredDuringExecution: list[PodAffinityTerm] | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[WeightedPodAffinityTerm] | None = None


class Affinity(_M):
    nodeAffinity: NodeAffinity | None = None
    podAffinity: PodAffinity | None = None
    podAntiAffinity: PodAffinity | None = None


class PodSpec(_M):
    containers: Annotated[list[Container], Field(min_length=1)]
    nodeSelector: dict[str, str] | None = None
    nodeName: str | None = None
    affinity: Affinity | None = None
    tolerations: list[Toleration] | None = None
    terminationGracePeriodSeconds: Annotated[StrictInt, Field(ge=0)] | None = None
    restartPolicy: Literal["Always", "OnFailure", "Never"] = "Always"

    @field_validator("containers")
    @classmethod
    def _unique(cls, v: list[Container]) -> list[Container]:
        names = [c.name for c in v]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"Duplicate value: {n!r}")
        return v


class PodTemplateSpec(_M):
    metadata: ObjectMeta | None = None
    spec: PodSpec


class RollingUpdate(_M):
    maxSurge: Any = None
    maxUnavailable: Any = None

    @field_validator("maxSurge", "maxUnavailable")
    @classmethod
    def _iop(cls, v: Any) -> Any:
        return None if v is None else _int_or_percent(v)


class Strategy(_M):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    rollingUpdate: RollingUpdate | None = None


class DeploymentSpec(_M):
    replicas: Annotated[StrictInt, Field(ge=0)] = 1
    selector: LabelSelector
    template: PodTemplateSpec
    strategy: Strategy | None = None
    minReadySeconds: Annotated[StrictInt, Field(ge=0)] = 0
    revisionHistoryLimit: Annotated[StrictInt, Field(ge=0)] = 10
    progressDeadlineSeconds: Annotated[StrictInt, Field(ge=1)] = 600
    paused: StrictBool = False

    @model_validator(mode="after")
    def _selector_matches(self) -> DeploymentSpec:
        labels = (self.template.metadata.labels if self.template.metadata else None) or {}
        for key, value in (self.selector.matchLabels or {}).items():
            if labels.get(key) != value:
                raise ValueError(
                    "template.metadata.labels: Invalid value: "
                    f"{labels!r}: `selector` does not match template `labels`"
                )
        return self


class ServicePort(_M):
    port: Annotated[StrictInt, Field(ge=1, le=65535)]
    targetPort: StrictInt | str | None = None
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"

    @field_validator("targetPort")
    @classmethod
    def _tp(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, int) and not 1 <= v <= 65535:
            raise ValueError("must be between 1 and 65535, inclusive")
        if isinstance(v, str) and not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", v):
            raise ValueError("must be a port number or an IANA_SVC_NAME")
        return v


class ServiceSpec(_M):
    selector: dict[str, str] | None = None
    ports: Annotated[list[ServicePort], Field(min_length=1)]
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "ClusterIP"


class NodeSpec(_M):
    unschedulable: StrictBool | None = None
    taints: list[Taint] | None = None


class PodDisruptionBudgetSpec(_M):
    minAvailable: Any = None
    maxUnavailable: Any = None
    selector: LabelSelector | None = None

    @field_validator("minAvailable", "maxUnavailable")
    @classmethod
    def _iop(cls, v: Any) -> Any:
        return None if v is None else _int_or_percent(v)

    @model_validator(mode="after")
    def _one(self) -> PodDisruptionBudgetSpec:
        if self.minAvailable is not None and self.maxUnavailable is not None:
            raise ValueError("minAvailable and maxUnavailable cannot be both set")
        return self


class ScaleSpec(_M):
    replicas: Annotated[StrictInt, Field(ge=0)] = 0


M = TypeVar("M", bound=BaseModel)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def validate(model: type[M], data: Any, prefix: str = "spec") -> M:
    """Validate ``data`` against ``model``; raise :class:`Invalid` naming the first bad field."""
    if not isinstance(data, dict):
        raise Invalid(prefix, "Required value" if data is None else "must be an object", data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = _loc(tuple(err["loc"]))
        field = f"{prefix}.{path}" if path else prefix
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            raise Invalid(field, "Required value") from None
        if msg.startswith("template.metadata.labels"):
            raise Invalid(f"{prefix}.template.metadata.labels", msg.split(": ", 1)[1]) from None
        value = err.get("input")
        raise Invalid(field, f"Invalid value: {value!r}: {msg}", value) from None


def default_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults the API server's defaulting would (so templates hash stably)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for p in c.get("ports") or []:
                if isinstance(p, dict):
                    p.setdefault("protocol", "TCP")
    return spec


def default_deployment_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if isinstance(strategy, dict) and strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        ru = strategy.setdefault("rollingUpdate", {})
        if isinstance(ru, dict):
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])
    return spec


def default_service_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
    return spec
