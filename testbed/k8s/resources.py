"""The resources the testbed's Kubernetes API serves, and what each verb does to the cluster.

Each :class:`Handler` knows how to list, get, serialize, validate and apply one resource. The
generic verbs (:func:`list_objects`, :func:`patch_object`, :func:`replace_object`,
:func:`create_object`, :func:`delete_object`) enforce what the real API server enforces:
``resourceVersion`` preconditions (409), validation naming the field (422), immutable fields,
unknown names (404). The HTTP layer (:mod:`testbed.server`) only parses requests and calls these.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..clock import iso
from ..errors import PatchError, SelectorError
from ..events import Event, event_fields
from ..objects import Deployment, Node, Pod, PodDisruptionBudget, ReplicaSet, Secret, Service
from . import serialize as ser
from . import validate as val
from .patch import apply_patch
from .selectors import parse_field_selector, parse_label_selector
from .status import ApiError, conflict, invalid, not_found

if TYPE_CHECKING:
    from ..cluster import Cluster

CHAOS_GROUP = "chaos-mesh.org"
CHAOS_KINDS = {
    "podchaos": "PodChaos",
    "networkchaos": "NetworkChaos",
    "stresschaos": "StressChaos",
    "iochaos": "IOChaos",
    "timechaos": "TimeChaos",
    "httpchaos": "HTTPChaos",
    "dnschaos": "DNSChaos",
    "kernelchaos": "KernelChaos",
}


class Handler:
    group: ClassVar[str] = ""
    version: ClassVar[str] = "v1"
    plural: ClassVar[str]
    kind: ClassVar[str]
    namespaced: ClassVar[bool] = True
    verbs: ClassVar[frozenset[str]] = frozenset({"get", "list", "watch"})
    short_names: ClassVar[tuple[str, ...]] = ()
    #: the fields a field selector may name (others are rejected, as the API server does)
    field_names: ClassVar[frozenset[str]] = frozenset({"metadata.name", "metadata.namespace"})

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The watch-log key of this resource."""
        return self.plural

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        raise NotImplementedError

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        for obj in self.items(cluster, ns):
            if self.name(obj) == name:
                return obj
        raise not_found(self.plural, name, self.group)

    def name(self, obj: Any) -> str:
        return str(obj.meta.name)

    def namespace(self, obj: Any) -> str | None:
        return obj.meta.namespace

    def json(self, cluster: Cluster, obj: Any) -> dict[str, Any]:
        return ser.serialize(cluster, self.resource, obj)

    def labels(self, obj: Any) -> dict[str, str]:
        return dict(obj.meta.labels)

    def fields(self, obj: Any) -> dict[str, str]:
        out = {"metadata.name": self.name(obj)}
        ns = self.namespace(obj)
        if ns is not None:
            out["metadata.namespace"] = ns
        return out

    def update(self, cluster: Cluster, obj: Any, new: dict[str, Any]) -> None:
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({self.plural})",
            "MethodNotAllowed",
        )

    def create(self, cluster: Cluster, ns: str | None, body: dict[str, Any]) -> Any:
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({self.plural})",
            "MethodNotAllowed",
        )

    def delete(self, cluster: Cluster, obj: Any, grace: float | None) -> dict[str, Any]:
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({self.plural})",
            "MethodNotAllowed",
        )

    def fresh(self, cluster: Cluster, obj: Any) -> Any:
        """The object again after a change (custom objects are replaced, not mutated)."""
        return obj


def _meta_parts(new: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    meta = new.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise ApiError(422, "metadata.labels: Invalid value: labels must be strings", "Invalid")
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise ApiError(
            422, "metadata.annotations: Invalid value: annotations must be strings", "Invalid"
        )
    return dict(labels), dict(annotations)


def _validate(
    kind: str, name: str, group: str, model: type[Any], data: Any, prefix: str = "spec"
) -> Any:
    try:
        return val.validate(model, data, prefix)
    except val.Invalid as exc:
        raise invalid(kind, name, exc.field, exc.message, group) from None


class Namespaces(Handler):
    plural, kind, namespaced = "namespaces", "Namespace", False
    short_names = ("ns",)
    field_names = frozenset({"metadata.name"})

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        from ..cluster import _NamespaceRef

        return [_NamespaceRef(m) for m in cluster.namespaces.values()]


class Nodes(Handler):
    plural, kind, namespaced = "nodes", "Node", False
    verbs = frozenset({"get", "list", "watch", "patch", "update"})
    short_names = ("no",)
    field_names = frozenset({"metadata.name", "spec.unschedulable"})

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return list(cluster.node_list)

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        node = cluster.nodes.get(name)
        if node is None:
            raise not_found(self.plural, name)
        return node

    def fields(self, obj: Node) -> dict[str, str]:
        return {"metadata.name": obj.name, "spec.unschedulable": str(obj.unschedulable).lower()}

    def update(self, cluster: Cluster, obj: Node, new: dict[str, Any]) -> None:
        labels, annotations = _meta_parts(new)
        spec = new.get("spec") or {}
        _validate("Node", obj.name, "", val.NodeSpec, spec)
        cluster.patch_node(obj, labels, annotations, copy.deepcopy(spec))


class Pods(Handler):
    plural, kind = "pods", "Pod"
    verbs = frozenset({"get", "list", "watch", "delete", "patch"})
    short_names = ("po",)
    field_names = frozenset(
        {
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
        }
    )

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return list(cluster.pods_in(ns))

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        pod = cluster.pods.get((ns or "", name))
        if pod is None:
            raise not_found(self.plural, name)
        return pod

    def fields(self, obj: Pod) -> dict[str, str]:
        return {
            "metadata.name": obj.name,
            "metadata.namespace": obj.namespace,
            "spec.nodeName": obj.node.name if obj.node else "",
            "spec.restartPolicy": "Always",
            "spec.schedulerName": "default-scheduler",
            "spec.serviceAccountName": "default",
            "status.phase": obj.phase,
            "status.podIP": obj.address,
        }

    def update(self, cluster: Cluster, obj: Pod, new: dict[str, Any]) -> None:
        current = ser.pod_json(cluster, obj)
        if new.get("spec") != current["spec"]:
            raise invalid(
                "Pod",
                obj.name,
                "spec",
                "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`, `spec.activeDeadlineSeconds` or "
                "`spec.tolerations` (only additions to existing tolerations)",
            )
        labels, annotations = _meta_parts(new)
        cluster.set_pod_metadata(obj, labels, annotations)

    def delete(self, cluster: Cluster, obj: Pod, grace: float | None) -> dict[str, Any]:
        cluster.delete_pod(obj, grace)
        return ser.pod_json(cluster, obj)


class Services(Handler):
    plural, kind = "services", "Service"
    verbs = frozenset({"get", "list", "watch", "patch", "update", "create", "delete"})
    short_names = ("svc",)

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return [s for (sns, _), s in cluster.services.items() if ns is None or sns == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        svc = cluster.services.get((ns or "", name))
        if svc is None:
            raise not_found(self.plural, name)
        return svc

    def update(self, cluster: Cluster, obj: Service, new: dict[str, Any]) -> None:
        labels, annotations = _meta_parts(new)
        spec = copy.deepcopy(new.get("spec"))
        _validate("Service", obj.name, "", val.ServiceSpec, spec)
        assert isinstance(spec, dict)
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        cluster.apply_service(
            obj.meta.namespace or "", obj.name, {"labels": labels, "annotations": annotations}, spec
        )

    def create(self, cluster: Cluster, ns: str | None, body: dict[str, Any]) -> Any:
        name = _new_name(body, self, cluster)
        if (ns or "", name) in cluster.services:
            raise _exists(self, name)
        labels, annotations = _meta_parts(body)
        spec = body.get("spec")
        _validate("Service", name, "", val.ServiceSpec, spec)
        return cluster.apply_service(
            ns or "default",
            name,
            {"labels": labels, "annotations": annotations},
            copy.deepcopy(spec or {}),
        )

    def delete(self, cluster: Cluster, obj: Service, grace: float | None) -> dict[str, Any]:
        cluster.delete_service(obj)
        return ser.service_json(cluster, obj)


def _secret_data(name: str, body: dict[str, Any]) -> dict[str, str]:
    data = dict(body.get("data") or {})
    for key, value in (body.get("stringData") or {}).items():
        if not isinstance(value, str):
            raise invalid("Secret", name, f"stringData[{key}]", "Invalid value: must be a string")
        data[key] = base64.b64encode(value.encode()).decode()
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except ValueError:
            raise invalid(
                "Secret", name, f"data[{key}]", "Invalid value: must be base64-encoded"
            ) from None
    return {k: str(v) for k, v in data.items()}


class Secrets(Handler):
    plural, kind = "secrets", "Secret"
    verbs = frozenset({"get", "list", "watch", "patch", "update", "create", "delete"})

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return [x for (sns, _), x in cluster.secrets.items() if ns is None or sns == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        secret = cluster.secrets.get((ns or "", name))
        if secret is None:
            raise not_found(self.plural, name)
        return secret

    def update(self, cluster: Cluster, obj: Secret, new: dict[str, Any]) -> None:
        labels, annotations = _meta_parts(new)
        cluster.apply_secret(
            obj.meta.namespace or "",
            obj.name,
            {"labels": labels, "annotations": annotations},
            _secret_data(obj.name, new),
            str(new.get("type") or obj.type),
        )

    def create(self, cluster: Cluster, ns: str | None, body: dict[str, Any]) -> Any:
        name = _new_name(body, self, cluster)
        if (ns or "", name) in cluster.secrets:
            raise _exists(self, name)
        labels, annotations = _meta_parts(body)
        return cluster.apply_secret(
            ns or "default",
            name,
            {"labels": labels, "annotations": annotations},
            _secret_data(name, body),
            str(body.get("type") or "Opaque"),
        )

    def delete(self, cluster: Cluster, obj: Secret, grace: float | None) -> dict[str, Any]:
        out = ser.secret_json(cluster, obj)
        cluster.delete_secret(obj)
        return out


class Endpoints(Handler):
    plural, kind = "endpoints", "Endpoints"
    short_names = ("ep",)

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return Services().items(cluster, ns)

    def json(self, cluster: Cluster, obj: Any) -> dict[str, Any]:
        return ser.endpoints_json(cluster, obj)


class Events(Handler):
    plural, kind = "events", "Event"
    short_names = ("ev",)
    field_names = frozenset(
        {
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.fieldPath",
            "reason",
            "type",
            "source",
            "reportingComponent",
        }
    )

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return [e for e in cluster.events.all() if ns is None or e.namespace == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        event = cluster.events.get(ns or "default", name)
        if event is None:
            raise not_found(self.plural, name)
        return event

    def name(self, obj: Event) -> str:
        return obj.name

    def namespace(self, obj: Event) -> str | None:
        return obj.namespace

    def labels(self, obj: Event) -> dict[str, str]:
        return {}

    def fields(self, obj: Event) -> dict[str, str]:
        return event_fields(obj)


class Deployments(Handler):
    group, plural, kind = "apps", "deployments", "Deployment"
    verbs = frozenset({"get", "list", "watch", "patch", "update", "create", "delete"})
    short_names = ("deploy",)

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return [d for (dns, _), d in cluster.deployments.items() if ns is None or dns == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        dep = cluster.deployments.get((ns or "", name))
        if dep is None:
            raise not_found(self.plural, name, self.group)
        return dep

    def _spec(self, name: str, spec: Any) -> dict[str, Any]:
        _validate("Deployment", name, self.group, val.DeploymentSpec, spec)
        return val.default_deployment_spec(spec)

    def update(self, cluster: Cluster, obj: Deployment, new: dict[str, Any]) -> None:
        labels, annotations = _meta_parts(new)
        spec = self._spec(obj.name, new.get("spec"))
        if spec.get("selector") != obj.spec.get("selector"):
            raise invalid(
                "Deployment",
                obj.name,
                "spec.selector",
                f"Invalid value: {json.dumps(spec.get('selector'))}: field is immutable",
                self.group,
            )
        cluster.apply_deployment(
            obj.meta.namespace or "", obj.name, {"labels": labels, "annotations": annotations}, spec
        )

    def create(self, cluster: Cluster, ns: str | None, body: dict[str, Any]) -> Any:
        name = _new_name(body, self, cluster)
        if (ns or "", name) in cluster.deployments:
            raise _exists(self, name)
        labels, annotations = _meta_parts(body)
        spec = self._spec(name, body.get("spec"))
        return cluster.apply_deployment(
            ns or "default", name, {"labels": labels, "annotations": annotations}, spec
        )

    def delete(self, cluster: Cluster, obj: Deployment, grace: float | None) -> dict[str, Any]:
        out = ser.deployment_json(cluster, obj)
        cluster.delete_deployment(obj)
        return out


class ReplicaSets(Handler):
    group, plural, kind = "apps", "replicasets", "ReplicaSet"
    short_names = ("rs",)

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return [r for (rns, _), r in cluster.replicasets.items() if ns is None or rns == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        rs = cluster.replicasets.get((ns or "", name))
        if rs is None:
            raise not_found(self.plural, name, self.group)
        return rs

    def labels(self, obj: ReplicaSet) -> dict[str, str]:
        return dict(obj.meta.labels)


class PodDisruptionBudgets(Handler):
    group, plural, kind = "policy", "poddisruptionbudgets", "PodDisruptionBudget"
    verbs = frozenset({"get", "list", "watch", "patch", "update", "create", "delete"})
    short_names = ("pdb",)

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        return [p for (pns, _), p in cluster.pdbs.items() if ns is None or pns == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        pdb = cluster.pdbs.get((ns or "", name))
        if pdb is None:
            raise not_found(self.plural, name, self.group)
        return pdb

    def update(self, cluster: Cluster, obj: PodDisruptionBudget, new: dict[str, Any]) -> None:
        labels, annotations = _meta_parts(new)
        spec = new.get("spec")
        _validate(self.kind, obj.meta.name, self.group, val.PodDisruptionBudgetSpec, spec)
        cluster.apply_pdb(
            obj.meta.namespace or "",
            obj.meta.name,
            {"labels": labels, "annotations": annotations},
            copy.deepcopy(spec or {}),
        )

    def create(self, cluster: Cluster, ns: str | None, body: dict[str, Any]) -> Any:
        name = _new_name(body, self, cluster)
        if (ns or "", name) in cluster.pdbs:
            raise _exists(self, name)
        labels, annotations = _meta_parts(body)
        spec = body.get("spec")
        _validate(self.kind, name, self.group, val.PodDisruptionBudgetSpec, spec)
        return cluster.apply_pdb(
            ns or "default",
            name,
            {"labels": labels, "annotations": annotations},
            copy.deepcopy(spec or {}),
        )

    def delete(
        self, cluster: Cluster, obj: PodDisruptionBudget, grace: float | None
    ) -> dict[str, Any]:
        out = ser.pdb_json(cluster, obj)
        cluster.delete_pdb(obj)
        return out


@dataclass
class ChaosObjects(Handler):
    """Chaos Mesh custom resources, stored as sent; the fault library acts on them."""

    chaos_plural: str = "podchaos"
    group: ClassVar[str] = CHAOS_GROUP
    version: ClassVar[str] = "v1alpha1"
    verbs = frozenset({"get", "list", "watch", "patch", "update", "create", "delete"})

    @property
    def plural(self) -> str:  # type: ignore[override]
        return self.chaos_plural

    @property
    def kind(self) -> str:  # type: ignore[override]
        return CHAOS_KINDS[self.chaos_plural]

    @property
    def resource(self) -> str:
        return f"{CHAOS_GROUP}/{self.chaos_plural}"

    def items(self, cluster: Cluster, ns: str | None) -> list[Any]:
        from ..cluster import _CustomRef

        store = cluster.custom_store(CHAOS_GROUP, self.chaos_plural)
        return [_CustomRef(o) for (ons, _), o in store.items() if ns is None or ons == ns]

    def get(self, cluster: Cluster, ns: str | None, name: str) -> Any:
        from ..cluster import _CustomRef

        obj = cluster.custom_store(CHAOS_GROUP, self.chaos_plural).get((ns or "", name))
        if obj is None:
            raise not_found(self.chaos_plural, name, CHAOS_GROUP)
        return _CustomRef(obj)

    def fresh(self, cluster: Cluster, obj: Any) -> Any:
        meta = obj.obj["metadata"]
        return self.get(cluster, meta.get("namespace"), meta["name"])

    def name(self, obj: Any) -> str:
        return str(obj.obj["metadata"]["name"])

    def namespace(self, obj: Any) -> str | None:
        return obj.obj["metadata"].get("namespace")

    def labels(self, obj: Any) -> dict[str, str]:
        return dict(obj.obj["metadata"].get("labels") or {})

    def json(self, cluster: Cluster, obj: Any) -> dict[str, Any]:
        return copy.deepcopy(obj.obj)

    def _check(self, body: dict[str, Any], name: str) -> None:
        if body.get("kind", self.kind) != self.kind:
            raise invalid(
                self.kind,
                name,
                "kind",
                f"Invalid value: {body.get('kind')!r}: must be {self.kind}",
                CHAOS_GROUP,
            )
        if not isinstance(body.get("spec"), dict):
            raise invalid(self.kind, name, "spec", "Required value", CHAOS_GROUP)

    def create(self, cluster: Cluster, ns: str | None, body: dict[str, Any]) -> Any:
        name = _new_name(body, self, cluster)
        store = cluster.custom_store(CHAOS_GROUP, self.chaos_plural)
        if (ns or "", name) in store:
            raise _exists(self, name)
        self._check(body, name)
        obj = copy.deepcopy(body)
        obj["apiVersion"] = f"{CHAOS_GROUP}/v1alpha1"
        obj["kind"] = self.kind
        meta = obj.setdefault("metadata", {})
        meta.update(
            name=name,
            namespace=ns or "default",
            uid=cluster.new_uid(),
            creationTimestamp=iso(cluster.now),
            generation=1,
        )
        cluster.put_custom(CHAOS_GROUP, self.chaos_plural, obj, created=True)
        return self.get(cluster, ns, name)

    def update(self, cluster: Cluster, obj: Any, new: dict[str, Any]) -> None:
        name = self.name(obj)
        self._check(new, name)
        _meta_parts(new)
        old_meta = obj.obj["metadata"]
        stored = copy.deepcopy(new)
        meta = stored.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            meta[key] = old_meta.get(key)
        meta["generation"] = old_meta.get("generation", 1) + (
            1 if stored.get("spec") != obj.obj.get("spec") else 0
        )
        cluster.put_custom(CHAOS_GROUP, self.chaos_plural, stored, created=False)

    def delete(self, cluster: Cluster, obj: Any, grace: float | None) -> dict[str, Any]:
        meta = obj.obj["metadata"]
        return cluster.delete_custom(
            CHAOS_GROUP, self.chaos_plural, meta.get("namespace", ""), meta["name"]
        )


HANDLERS: dict[tuple[str, str], Handler] = {
    (h.group, h.plural): h
    for h in (
        Namespaces(),
        Nodes(),
        Pods(),
        Services(),
        Secrets(),
        Endpoints(),
        Events(),
        Deployments(),
        ReplicaSets(),
        PodDisruptionBudgets(),
    )
}
for _plural in CHAOS_KINDS:
    HANDLERS[(CHAOS_GROUP, _plural)] = ChaosObjects(_plural)

API_VERSIONS = {"": "v1", "apps": "v1", "policy": "v1", CHAOS_GROUP: "v1alpha1"}


def handler_for(group: str, version: str, plural: str) -> Handler:
    handler = HANDLERS.get((group, plural))
    if handler is None or API_VERSIONS.get(group) != version:
        raise ApiError(
            404,
            "the server could not find the requested resource",
            "NotFound",
            {"group": group, "kind": plural},
        )
    return handler


def _new_name(body: dict[str, Any], handler: Handler, cluster: Cluster) -> str:
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(422, f"{handler.kind} is invalid: metadata.name: Required value", "Invalid")
    name = meta.get("name")
    if not name and meta.get("generateName"):
        name = f"{meta['generateName']}{cluster.random_suffix()}"
    if not isinstance(name, str) or not val.NAME_RE.match(name) or len(name) > 253:
        raise ApiError(
            422,
            f'{handler.kind} "{name}" is invalid: metadata.name: Invalid value: {name!r}: a '
            "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.'",
            "Invalid",
        )
    return name


def _exists(handler: Handler, name: str) -> ApiError:
    qualified = f"{handler.plural}.{handler.group}" if handler.group else handler.plural
    return ApiError(
        409,
        f'{qualified} "{name}" already exists',
        "AlreadyExists",
        {"name": name, "group": handler.group, "kind": handler.plural},
    )


# ---------------------------------------------------------------------- verbs


@dataclass
class Query:
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int | None = None
    continue_token: str | None = None


def matcher(handler: Handler, query: Query) -> Any:
    """A predicate for the label and field selectors of a request (400 when malformed)."""
    try:
        labels = parse_label_selector(query.label_selector or "")
        fields = parse_field_selector(query.field_selector or "")
    except SelectorError as exc:
        raise ApiError(400, f"unable to parse requirement: {exc}", "BadRequest") from None
    unsupported = [f for f in fields.fields if f not in handler.field_names]
    if unsupported:
        raise ApiError(400, f"field label not supported: {unsupported[0]}", "BadRequest")

    def match(obj: Any) -> bool:
        if not labels.empty and not labels.matches(handler.labels(obj)):
            return False
        return fields.empty or fields.matches(handler.fields(obj))

    return match


def list_objects(
    cluster: Cluster, handler: Handler, ns: str | None, query: Query
) -> dict[str, Any]:
    match = matcher(handler, query)
    items = [obj for obj in handler.items(cluster, ns) if match(obj)]
    start = 0
    if query.continue_token:
        try:
            start = int(base64.urlsafe_b64decode(query.continue_token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "continue key is not valid", "BadRequest") from None
    metadata: dict[str, Any] = {"resourceVersion": str(cluster.rv)}
    if query.limit:
        end = start + query.limit
        if end < len(items):
            metadata["continue"] = base64.urlsafe_b64encode(str(end).encode()).decode()
            metadata["remainingItemCount"] = len(items) - end
        items = items[start:end]
    else:
        items = items[start:]
    return {
        "apiVersion": handler.api_version,
        "kind": f"{handler.kind}List",
        "metadata": metadata,
        "items": [handler.json(cluster, obj) for obj in items],
    }


def _precondition(handler: Handler, cluster: Cluster, obj: Any, body: Any) -> None:
    if not isinstance(body, dict):
        return
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    if wanted is not None and str(wanted) != handler.json(cluster, obj)["metadata"].get(
        "resourceVersion"
    ):
        raise conflict(handler.plural, handler.name(obj), handler.group)


def _check_identity(handler: Handler, obj: Any, new: dict[str, Any]) -> None:
    meta = new.get("metadata") or {}
    if meta.get("name", handler.name(obj)) != handler.name(obj):
        raise invalid(
            handler.kind,
            handler.name(obj),
            "metadata.name",
            "Invalid value: field is immutable",
            handler.group,
        )


def patch_failure(exc: PatchError, kind: str, name: str, group: str) -> ApiError:
    """415 for a patch content type the server does not speak, else 422 naming the field."""
    if "content type" in exc.message:
        return ApiError(415, exc.message, "UnsupportedMediaType")
    return invalid(kind, name, exc.field or "patch", exc.message, group)


def patch_object(
    cluster: Cluster, handler: Handler, ns: str | None, name: str, content_type: str, body: Any
) -> dict[str, Any]:
    if "patch" not in handler.verbs:
        handler.update(cluster, None, {})  # raises 405
    obj = handler.get(cluster, ns, name)
    current = handler.json(cluster, obj)
    _precondition(handler, cluster, obj, body)
    try:
        new = apply_patch(content_type, current, body)
    except PatchError as exc:
        raise patch_failure(exc, handler.kind, name, handler.group) from None
    _check_identity(handler, obj, new)
    handler.update(cluster, obj, new)
    return handler.json(cluster, handler.fresh(cluster, obj))


def replace_object(
    cluster: Cluster, handler: Handler, ns: str | None, name: str, body: Any
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request must be an object", "BadRequest")
    obj = handler.get(cluster, ns, name)
    _precondition(handler, cluster, obj, body)
    _check_identity(handler, obj, body)
    handler.update(cluster, obj, body)
    return handler.json(cluster, handler.fresh(cluster, obj))


def create_object(cluster: Cluster, handler: Handler, ns: str | None, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request must be an object", "BadRequest")
    if ns is not None and (body.get("metadata") or {}).get("namespace", ns) != ns:
        raise ApiError(
            400,
            "the namespace of the provided object does not match the namespace sent on the request",
            "BadRequest",
        )
    if ns is not None and ns not in cluster.namespaces:
        raise not_found("namespaces", ns)
    obj = handler.create(cluster, ns, body)
    return handler.json(cluster, obj)


def delete_object(
    cluster: Cluster,
    handler: Handler,
    ns: str | None,
    name: str,
    grace: float | None,
    body: Any = None,
) -> dict[str, Any]:
    obj = handler.get(cluster, ns, name)
    if isinstance(body, dict):
        precond = body.get("preconditions") or {}
        current = handler.json(cluster, obj)["metadata"]
        if precond.get("resourceVersion") not in (None, current.get("resourceVersion")):
            raise conflict(handler.plural, name, handler.group)
        if precond.get("uid") not in (None, current.get("uid")):
            raise conflict(handler.plural, name, handler.group)
    return handler.delete(cluster, obj, grace)
