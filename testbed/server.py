"""The testbed's HTTP server: a subset of the Kubernetes API, ``/metrics`` and the truth endpoint.

Paths follow the real API server (``/api/v1/namespaces/{ns}/pods``,
``/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale``, ...), so the official ``kubernetes``
client, ``chaostoolkit-kubernetes`` and ``kubectl`` work against it unmodified. Errors are
``Status`` objects. ``watch=true`` streams newline-delimited watch events.

The ground truth (which faults are active) is served only at ``/testbed/truth`` and only to a
request bearing the truth token; nothing else reveals it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import controllers, metrics
from .clock import iso
from .cluster import EvictionBlocked
from .errors import PatchError
from .faults import FAULTS, FaultError
from .k8s import resources as res
from .k8s import serialize as ser
from .k8s import validate as val
from .k8s.patch import PATCH_CONTENT_TYPES, apply_patch
from .k8s.status import ApiError, conflict, invalid, status_object

if TYPE_CHECKING:
    from .cluster import Cluster

MAX_BODY = 3 * 1024 * 1024
WATCH_POLL_S = 0.05
MAX_WATCH_S = 1800.0


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def _error(exc: ApiError) -> Response:
    return _json(exc.status(), exc.code)


class TestbedAPI:
    """Request handling bound to one cluster."""

    __test__ = False

    def __init__(self, cluster: Cluster, truth_token: str | None) -> None:
        self.cluster = cluster
        self.truth_token = truth_token

    # ------------------------------------------------------------------ plumbing

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(413, f"request body too large: {len(raw)} bytes (limit {MAX_BODY})")
        if not raw:
            return None
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if request.method == "PATCH" and ctype.lower() not in PATCH_CONTENT_TYPES:
            raise ApiError(  # before parsing the body, as the API server does
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(PATCH_CONTENT_TYPES)}",
                "UnsupportedMediaType",
            )
        if ctype == "application/apply-patch+yaml":
            return raw
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None

    @staticmethod
    def _query(request: Request) -> res.Query:
        q = request.query_params
        limit = q.get("limit")
        try:
            limit_n = int(limit) if limit else None
        except ValueError:
            raise ApiError(400, f"invalid limit {limit!r}: must be an integer") from None
        return res.Query(q.get("labelSelector"), q.get("fieldSelector"), limit_n, q.get("continue"))

    @staticmethod
    def _grace(request: Request, body: Any) -> float | None:
        value = request.query_params.get("gracePeriodSeconds")
        if value is None and isinstance(body, dict):
            value = body.get("gracePeriodSeconds")
        return TestbedAPI._grace_value(value)

    @staticmethod
    def _grace_value(value: Any) -> float | None:
        if value is None:
            return None
        try:
            grace = float(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"invalid gracePeriodSeconds {value!r}") from None
        if grace < 0:
            raise ApiError(422, "gracePeriodSeconds: Invalid value: must be >= 0", "Invalid")
        return grace

    # ------------------------------------------------------------------ entry point

    async def dispatch(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return _error(exc)

    async def _dispatch(self, request: Request) -> Response:
        parts = [p for p in request.url.path.split("/") if p]
        if parts[:1] == ["api"]:
            if len(parts) == 1:
                return _json(
                    {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
                )
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"]:
            if len(parts) == 1:
                return _json(self._groups())
            if len(parts) == 2:
                return _json(self._group(parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        if not rest:
            return _json(self._resource_list(group, version))
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        handler = res.handler_for(group, version, plural)
        if handler.namespaced is False and ns is not None:
            raise ApiError(
                404,
                f"the server could not find the requested resource ({plural} is not namespaced)",
            )
        if ns is not None and ns not in self.cluster.namespaces and request.method != "GET":
            raise ApiError(404, f'namespaces "{ns}" not found', "NotFound")
        method = request.method
        if sub is not None:
            assert name is not None
            return await self._subresource(request, handler, ns, name, sub)
        if name is None:
            if method == "GET":
                if request.query_params.get("watch") in ("true", "1"):
                    return self._watch(request, handler, ns)
                with self.cluster.lock:
                    return _json(res.list_objects(self.cluster, handler, ns, self._query(request)))
            if method == "POST":
                body = await self._body(request)
                self._allowed(handler, "create")
                with self.cluster.lock:
                    return _json(res.create_object(self.cluster, handler, ns, body), 201)
            raise self._method(handler)
        if method == "GET":
            with self.cluster.lock:
                return _json(handler.json(self.cluster, handler.get(self.cluster, ns, name)))
        body = await self._body(request)
        with self.cluster.lock:
            if method == "PATCH":
                self._allowed(handler, "patch")
                ctype = request.headers.get("content-type", "").split(";")[0].strip()
                return _json(res.patch_object(self.cluster, handler, ns, name, ctype, body))
            if method == "PUT":
                self._allowed(handler, "update")
                return _json(res.replace_object(self.cluster, handler, ns, name, body))
            if method == "DELETE":
                self._allowed(handler, "delete")
                grace = self._grace(request, body)
                return _json(res.delete_object(self.cluster, handler, ns, name, grace, body))
        raise self._method(handler)

    @staticmethod
    def _method(handler: res.Handler) -> ApiError:
        return ApiError(
            405,
            f"the server does not allow this method on the requested resource ({handler.plural})",
            "MethodNotAllowed",
        )

    def _allowed(self, handler: res.Handler, verb: str) -> None:
        if verb not in handler.verbs:
            raise self._method(handler)

    # ------------------------------------------------------------------ discovery

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        if res.API_VERSIONS.get(group) != version:
            raise ApiError(404, "the server could not find the requested resource")
        resources = []
        for (g, plural), h in sorted(res.HANDLERS.items()):
            if g != group:
                continue
            resources.append(
                {
                    "name": plural,
                    "singularName": "",
                    "namespaced": h.namespaced,
                    "kind": h.kind,
                    "verbs": sorted(h.verbs),
                    "shortNames": list(h.short_names),
                }
            )
            if plural == "pods":
                resources += [
                    {
                        "name": "pods/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    },
                    {
                        "name": "pods/eviction",
                        "singularName": "",
                        "namespaced": True,
                        "group": "policy",
                        "version": "v1",
                        "kind": "Eviction",
                        "verbs": ["create"],
                    },
                ]
            if plural == "deployments":
                resources.append(
                    {
                        "name": "deployments/scale",
                        "singularName": "",
                        "namespaced": True,
                        "group": "autoscaling",
                        "version": "v1",
                        "kind": "Scale",
                        "verbs": ["get", "patch", "update"],
                    }
                )
        gv = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }

    @staticmethod
    def _group(group: str) -> dict[str, Any]:
        version = res.API_VERSIONS.get(group)
        if not group or version is None:
            raise ApiError(404, "the server could not find the requested resource")
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": [gv],
            "preferredVersion": gv,
        }

    def _groups(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group(g) for g in res.API_VERSIONS if g],
        }

    # ------------------------------------------------------------------ subresources

    async def _subresource(
        self, request: Request, handler: res.Handler, ns: str | None, name: str, sub: str
    ) -> Response:
        cluster = self.cluster
        method = request.method
        if handler.plural == "deployments" and sub == "scale":
            body = await self._body(request) if method in ("PATCH", "PUT") else None
            with cluster.lock:
                return _json(self._scale(request, ns, name, method, body))
        if handler.plural == "deployments" and sub == "status" and method == "GET":
            with cluster.lock:
                return _json(handler.json(cluster, handler.get(cluster, ns, name)))
        if handler.plural == "pods" and sub == "log" and method == "GET":
            return self._log(request, ns or "", name)
        if handler.plural == "pods" and sub == "eviction" and method == "POST":
            body = await self._body(request)
            with cluster.lock:
                return self._evict(ns or "", name, body)
        raise ApiError(404, "the server could not find the requested resource")

    def _scale(
        self, request: Request, ns: str | None, name: str, method: str, body: Any
    ) -> dict[str, Any]:
        cluster = self.cluster
        dep = res.Deployments().get(cluster, ns, name)
        current = ser.scale_json(dep)
        if method == "GET":
            return current
        if isinstance(body, dict):
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
                raise conflict("deployments", name, "apps")
        if method == "PATCH":
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            try:
                new = apply_patch(ctype, current, body)
            except PatchError as exc:
                raise res.patch_failure(exc, "Scale", name, "autoscaling") from None
        elif method == "PUT":
            if not isinstance(body, dict):
                raise ApiError(400, "the body of the request must be an object")
            new = body
        else:
            raise ApiError(
                405,
                "the server does not allow this method on deployments/scale",
                "MethodNotAllowed",
            )
        try:
            scale = val.validate(val.ScaleSpec, new.get("spec"), "spec")
        except val.Invalid as exc:
            raise invalid("Scale", name, exc.field, exc.message, "autoscaling") from None
        spec = dict(dep.spec)
        spec["replicas"] = scale.replicas
        cluster.apply_deployment(
            ns or "", name, {"labels": dep.meta.labels, "annotations": dep.meta.annotations}, spec
        )
        return ser.scale_json(dep)

    def _evict(self, ns: str, name: str, body: Any) -> Response:
        cluster = self.cluster
        pod = res.Pods().get(cluster, ns, name)
        if isinstance(body, dict) and body.get("kind", "Eviction") != "Eviction":
            raise ApiError(400, f"expected an Eviction, got {body.get('kind')!r}")
        if pod.deleting:
            return _json(status_object(201, "", "", None) | {"status": "Success"}, 201)
        try:
            options = body.get("deleteOptions") if isinstance(body, dict) else None
            cluster.evict_pod(pod, self._grace_value((options or {}).get("gracePeriodSeconds")))
        except EvictionBlocked as exc:
            pdb = cluster.pdbs[(ns, exc.budget)]
            message = (
                f"The disruption budget {exc.budget} needs {pdb.status['desiredHealthy']} "
                f"healthy pods and has {pdb.status['currentHealthy']} currently"
            )
            raise ApiError(
                429,
                str(exc),
                "TooManyRequests",
                {"causes": [{"reason": "DisruptionBudget", "message": message}]},
            ) from None
        for pdb in cluster.pdbs_for(pod):  # the eviction itself spends the disruption
            pdb.status = controllers.pdb_status(cluster, pdb)
        return _json(status_object(201, "", "", None) | {"status": "Success"}, 201)

    # ------------------------------------------------------------------ logs

    def _log(self, request: Request, ns: str, name: str) -> Response:
        cluster = self.cluster
        q = request.query_params
        with cluster.lock:
            pod = res.Pods().get(cluster, ns, name)
            container = q.get("container") or pod.template.containers[0].name
            names = [c.name for c in pod.template.containers]
            if container not in names:
                raise ApiError(400, f"container {container} is not valid for pod {name}")
            previous = q.get("previous") in ("true", "1")
            if previous:
                if not pod.prev_logs and pod.restarts == 0:
                    raise ApiError(
                        400,
                        f'previous terminated container "{container}" in pod "{name}" not found',
                    )
                lines = list(pod.prev_logs)
            else:
                if pod.container != "running" and not pod.logs:
                    reason = pod.waiting_reason or "ContainerCreating"
                    raise ApiError(
                        400,
                        f'container "{container}" in pod "{name}" is waiting to start: {reason}',
                    )
                lines = list(pod.logs)
        timestamps = q.get("timestamps") in ("true", "1")
        try:
            since = float(q["sinceSeconds"]) if q.get("sinceSeconds") else None
            tail = int(q["tailLines"]) if q.get("tailLines") else None
            limit = int(q["limitBytes"]) if q.get("limitBytes") else None
        except ValueError as exc:
            raise ApiError(400, f"invalid log parameter: {exc}") from None
        if since is not None:
            lines = [(t, line) for t, line in lines if t >= cluster.now - since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        text = "".join(self._log_line(t, line, timestamps) for t, line in lines)
        if limit is not None:
            text = text.encode()[:limit].decode(errors="ignore")
        if q.get("follow") not in ("true", "1"):
            return Response(text, media_type="text/plain")
        return StreamingResponse(self._follow(pod, text, timestamps), media_type="text/plain")

    @staticmethod
    def _log_line(t: float, line: str, timestamps: bool) -> str:
        if timestamps:
            return f"{iso(t)[:-1]}.000000000Z {line}\n"
        return f"{line}\n"

    async def _follow(self, pod: Any, first: str, timestamps: bool) -> AsyncIterator[bytes]:
        yield first.encode()
        seen = len(pod.logs)
        current = pod.logs
        deadline = time.monotonic() + MAX_WATCH_S
        while time.monotonic() < deadline:
            await asyncio.sleep(WATCH_POLL_S * 4)
            with self.cluster.lock:
                if (pod.namespace, pod.name) not in self.cluster.pods:
                    return
                if pod.logs is not current:
                    current, seen = pod.logs, 0
                new = list(current)[seen:]
                seen = len(current)
            if new:
                yield "".join(self._log_line(t, line, timestamps) for t, line in new).encode()

    # ------------------------------------------------------------------ watch

    def _watch(self, request: Request, handler: res.Handler, ns: str | None) -> Response:
        cluster = self.cluster
        query = self._query(request)
        match = res.matcher(handler, query)
        q = request.query_params
        try:
            timeout = min(float(q.get("timeoutSeconds") or MAX_WATCH_S), MAX_WATCH_S)
        except ValueError:
            raise ApiError(400, "invalid timeoutSeconds") from None
        rv_param = q.get("resourceVersion")
        initial: list[dict[str, Any]] = []
        with cluster.lock:
            if rv_param in (None, "", "0"):
                start = cluster.rv
                for obj in handler.items(cluster, ns):
                    if match(obj):
                        initial.append({"type": "ADDED", "object": handler.json(cluster, obj)})
            else:
                try:
                    start = int(rv_param)
                except ValueError:
                    raise ApiError(400, f"invalid resourceVersion {rv_param!r}") from None
                floor = cluster.watch_floor.get(handler.resource, 0)
                if handler.resource in cluster.watch_floor and start < floor:
                    gone = status_object(
                        410, f"too old resource version: {start} ({floor})", "Expired"
                    )
                    return StreamingResponse(
                        _once(json.dumps({"type": "ERROR", "object": gone}) + "\n"),
                        media_type="application/json",
                    )
        return StreamingResponse(
            self._stream(handler, ns, match, start, initial, timeout), media_type="application/json"
        )

    async def _stream(
        self,
        handler: res.Handler,
        ns: str | None,
        match: Any,
        start: int,
        initial: list[dict[str, Any]],
        timeout: float,
    ) -> AsyncIterator[bytes]:
        cluster = self.cluster
        for event in initial:
            yield (json.dumps(event, separators=(",", ":")) + "\n").encode()
        last = start
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out: list[str] = []
            with cluster.lock:
                log = cluster.watch_log.get(handler.resource)
                entries = []
                if log:
                    for entry in reversed(log):
                        if entry.rv <= last:
                            break
                        entries.append(entry)
                for entry in reversed(entries):
                    last = entry.rv
                    obj = entry.obj
                    if ns is not None and handler.namespace(obj) != ns:
                        continue
                    if not match(obj):
                        continue
                    data = entry.snapshot or handler.json(cluster, obj)
                    out.append(
                        json.dumps({"type": entry.type, "object": data}, separators=(",", ":"))
                    )
            if out:
                yield ("\n".join(out) + "\n").encode()
            await asyncio.sleep(WATCH_POLL_S)

    # ------------------------------------------------------------------ other endpoints

    async def metrics(self, request: Request) -> Response:
        with self.cluster.lock:
            text = metrics.render(self.cluster)
        return Response(text, media_type=metrics.CONTENT_TYPE)

    def _authorize(self, request: Request) -> None:
        """Only holders of the truth token see the ground truth or inject faults."""
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not self.truth_token:
            raise ApiError(403, "the truth endpoint is disabled (no token set)", "Forbidden")
        if not token:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if not hmac.compare_digest(token.encode(), self.truth_token.encode()):
            raise ApiError(403, "invalid truth token", "Forbidden")

    async def truth(self, request: Request) -> Response:
        try:
            self._authorize(request)
        except ApiError as exc:
            return _error(exc)
        with self.cluster.lock:
            return _json(self.cluster.truth())

    async def faults(self, request: Request) -> Response:
        """``/testbed/faults``: list (GET), inject (POST), clear all (DELETE); token required."""
        try:
            self._authorize(request)
            engine = self.cluster.fault_engine
            if request.method == "GET":
                with self.cluster.lock:
                    return _json({"faults": [f.truth() for f in self.cluster.faults]})
            if request.method == "DELETE":
                with self.cluster.lock:
                    return _json({"cleared": [f.truth() for f in engine.clear_all()]})
            body = await self._body(request)
            request_ = _fault_request(body)
            with self.cluster.lock:
                fault = engine.inject(
                    request_["name"],
                    request_.get("target"),
                    namespace=request_.get("namespace"),
                    strength=request_.get("strength"),
                    delay_s=float(request_.get("delay_s") or 0.0),
                    duration_s=request_.get("duration_s"),
                    declare_only=bool(request_.get("declare_only")),
                    root=request_.get("root"),
                    via="kubernetes" if request_.get("declare_only") else None,
                )
                return _json(fault.truth(), 201)
        except FaultError as exc:
            return _error(ApiError(422, str(exc), "Invalid"))
        except ApiError as exc:
            return _error(exc)

    async def fault(self, request: Request) -> Response:
        """``/testbed/faults/{id}``: one fault (GET) or clear it (DELETE); token required."""
        try:
            self._authorize(request)
            fault_id = request.path_params["fault_id"]
            with self.cluster.lock:
                engine = self.cluster.fault_engine
                if request.method == "DELETE":
                    return _json(engine.clear(fault_id).truth())
                return _json(engine.get(fault_id).truth())
        except FaultError as exc:
            return _error(ApiError(404, str(exc), "NotFound"))
        except ApiError as exc:
            return _error(exc)

    async def catalogue(self, request: Request) -> Response:
        """``/testbed/faults/catalogue``: the library's documented faults (no instances)."""
        return _json({"faults": [f.describe() for f in FAULTS.values()]})

    async def version(self, request: Request) -> Response:
        return _json(
            {
                "major": "1",
                "minor": "30",
                "gitVersion": "v1.30.4-testbed",
                "gitCommit": "testbed",
                "gitTreeState": "clean",
                "buildDate": iso(0),
                "goVersion": "go1.22.5",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def health(self, request: Request) -> Response:
        return Response("ok", media_type="text/plain")


FAULT_KEYS = {
    "name",
    "target",
    "namespace",
    "strength",
    "delay_s",
    "duration_s",
    "declare_only",
    "root",
}


def _fault_request(body: Any) -> dict[str, Any]:
    """Check the shape of a fault injection request (422 naming the bad key)."""
    if not isinstance(body, dict):
        raise ApiError(
            400, 'expected a JSON object like {"name": "pod-kill", "target": {"service": "geo"}}'
        )
    unknown = sorted(set(body) - FAULT_KEYS)
    if unknown:
        raise ApiError(
            422,
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FAULT_KEYS))}",
            "Invalid",
        )
    if not isinstance(body.get("name"), str):
        raise ApiError(422, "name: Required value (a fault of the library)", "Invalid")
    if body.get("target") is not None and not isinstance(body["target"], dict | str):
        raise ApiError(422, "target: must be an object or a string", "Invalid")
    if body.get("root") is not None and not isinstance(body["root"], str):
        raise ApiError(422, "root: must be a string (comma-separated names)", "Invalid")
    if body.get("root") is not None and not body.get("declare_only"):
        raise ApiError(422, "root: only a declared fault names its root cause itself", "Invalid")
    for key in ("strength", "delay_s", "duration_s"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ApiError(422, f"{key}: must be a number", "Invalid")
    return body


async def _once(text: str) -> AsyncIterator[bytes]:
    yield text.encode()


def create_app(cluster: Cluster, truth_token: str | None = None) -> Starlette:
    """The ASGI application serving ``cluster``."""
    api = TestbedAPI(cluster, truth_token)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/version", api.version, methods=["GET"]),
        Route("/healthz", api.health, methods=["GET"]),
        Route("/livez", api.health, methods=["GET"]),
        Route("/readyz", api.health, methods=["GET"]),
        Route("/testbed/truth", api.truth, methods=["GET"]),
        Route("/testbed/faults/catalogue", api.catalogue, methods=["GET"]),
        Route("/testbed/faults", api.faults, methods=["GET", "POST", "DELETE"]),
        Route("/testbed/faults/{fault_id}", api.fault, methods=["GET", "DELETE"]),
        Route("/api", api.dispatch, methods=methods),
        Route("/api/{path:path}", api.dispatch, methods=methods),
        Route("/apis", api.dispatch, methods=methods),
        Route("/apis/{path:path}", api.dispatch, methods=methods),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            status_object(404, "the server could not find the requested resource", "NotFound"),
            status_code=404,
        )

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            status_object(405, "method not allowed", "MethodNotAllowed"), status_code=405
        )

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed})
