"""Kubernetes events and pod logs through the official client (the testbed or a real cluster).

:class:`KubernetesSource` reads only ``core/v1`` events, pods and pod logs and ``apps/v1``
deployments (for a workload's pod selector): never the ``chaos-mesh.org`` group, never the
testbed's own endpoints. The client is built from a host URL or a kubeconfig (or injected), makes
no retries of its own (the collector backs off) and every call carries a timeout. As a
:class:`~telemetry.sources.base.Source` it contributes the events new or changed since its last
fetch to :attr:`ClusterView.events`. Failures raise
:class:`~controlplane.exceptions.TelemetryError` naming the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from kubernetes import client, config

from controlplane.exceptions import TelemetryError

from ..model import ClusterView, KubeEvent

__all__ = ["KubeEvent", "KubernetesSource", "LogLines"]

T = TypeVar("T")


@dataclass(frozen=True)
class LogLines:
    """The last lines of one container's log; ``error`` says why there are none, if so."""

    namespace: str
    pod: str
    container: str
    lines: tuple[str, ...] = ()
    error: str | None = None


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _event(item: Any) -> KubeEvent:
    """A ``CoreV1Event`` of the client as a :class:`KubeEvent`."""
    meta, involved = item.metadata, item.involved_object
    last = item.last_timestamp or item.event_time or meta.creation_timestamp
    return KubeEvent(
        namespace=meta.namespace or "",
        name=meta.name or "",
        kind=involved.kind or "",
        object_name=involved.name or "",
        type=item.type or "",
        reason=item.reason or "",
        message=item.message or "",
        count=item.count or 1,
        first_seen=_epoch(item.first_timestamp or last),
        last_seen=_epoch(last),
        component=(item.source.component if item.source else None) or "",
        uid=meta.uid or "",
        resource_version=meta.resource_version or "",
    )


def _newer(version: str, than: str) -> bool:
    """Whether resourceVersion ``version`` is after ``than`` (numeric, as etcd's revisions)."""
    try:
        return int(version) > int(than)
    except ValueError:  # opaque versions: cannot order them, so keep the event
        return True


def _selector(selector: Any) -> str:
    """A ``V1LabelSelector`` as a label-selector string."""
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        parts.append(
            {
                "In": f"{expr.key} in ({values})",
                "NotIn": f"{expr.key} notin ({values})",
                "Exists": expr.key,
                "DoesNotExist": f"!{expr.key}",
            }[expr.operator]
        )
    return ",".join(parts)


class KubernetesSource:
    """Events and pod logs of one cluster; ``namespace`` limits events to one namespace."""

    def __init__(
        self,
        host: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        api_client: client.ApiClient | None = None,
        timeout: float = 5.0,
        namespace: str | None = None,
        name: str = "kubernetes",
        page_size: int = 500,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.namespace = namespace
        self.page_size = page_size
        self._own_client = api_client is None
        self.api_client = api_client or client.ApiClient(_configuration(host, kubeconfig, context))
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self._seen: dict[str, tuple[int, float | None]] | None = None

    # ------------------------------------------------------------------ events

    def events(
        self,
        namespace: str | None = None,
        *,
        since_time: float | None = None,
        since_resource_version: str | None = None,
    ) -> list[KubeEvent]:
        """Events (oldest first) last seen at or after ``since_time`` and/or changed after
        ``since_resource_version``; all namespaces unless ``namespace`` (or the source's)."""
        namespace = namespace or self.namespace
        out = []
        for item in self._list_events(namespace):
            event = _event(item)
            if since_time is not None and (event.last_seen or 0.0) < since_time:
                continue
            if since_resource_version and not _newer(
                event.resource_version, since_resource_version
            ):
                continue
            out.append(event)
        return sorted(out, key=lambda e: (e.last_seen or 0.0, e.name))

    def poll_events(self, since_time: float | None = None) -> list[KubeEvent]:
        """Events new or changed (count, time) since the last poll.

        The first poll returns the events last seen at or after ``since_time`` (all when None).
        """
        events = self.events()
        seen = self._seen
        current = {e.uid or e.name: (e.count, e.last_seen) for e in events}
        self._seen = current
        if seen is None:
            return [e for e in events if since_time is None or (e.last_seen or 0.0) >= since_time]
        return [e for e in events if seen.get(e.uid or e.name) != current[e.uid or e.name]]

    def fetch(self, now: float, window_s: float) -> ClusterView:
        """A view holding the events since the last fetch (the first: the last ``window_s``)."""
        return ClusterView(time=now, events=self.poll_events(since_time=now - window_s))

    def _list_events(self, namespace: str | None) -> Iterator[Any]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size, "_continue": token}
            if namespace:
                page = self._call(self.core.list_namespaced_event, namespace, **kwargs)
            else:
                page = self._call(self.core.list_event_for_all_namespaces, **kwargs)
            yield from page.items
            meta = page.metadata
            token = getattr(meta, "var_continue", None) or getattr(meta, "_continue", None)
            if not token:
                return

    # ------------------------------------------------------------------ logs

    def pod_logs(
        self,
        namespace: str,
        workload: str,
        *,
        tail_lines: int = 50,
        since_seconds: int | None = None,
    ) -> list[LogLines]:
        """The last ``tail_lines`` of every container of the pods of Deployment ``workload``.

        A container that has no log to give (still starting) gets a :class:`LogLines` with its
        ``error``; an unreachable API raises :class:`TelemetryError`.
        """
        deployment = self._call(self.apps.read_namespaced_deployment, workload, namespace)
        selector = _selector(deployment.spec.selector)
        pods = self._call(self.core.list_namespaced_pod, namespace, label_selector=selector)
        names = sorted(
            (str(pod.metadata.name), [str(c.name) for c in pod.spec.containers])
            for pod in pods.items
            if pod.metadata is not None and pod.spec is not None
        )
        return [
            self._container_log(namespace, pod, container, tail_lines, since_seconds)
            for pod, containers in names
            for container in containers
        ]

    def _container_log(
        self, namespace: str, pod: str, container: str, tail: int, since: int | None
    ) -> LogLines:
        try:
            text = self._call(
                self.core.read_namespaced_pod_log,
                pod,
                namespace,
                container=container,
                tail_lines=tail,
                since_seconds=since,
            )
        except TelemetryError as exc:
            if exc.__cause__ is None or not isinstance(exc.__cause__, client.ApiException):
                raise
            return LogLines(namespace, pod, container, error=exc.reason)
        return LogLines(namespace, pod, container, tuple(str(text).splitlines()))

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client with the timeout; its errors become :class:`TelemetryError`."""
        try:
            return method(*args, _request_timeout=self.timeout, **kwargs)
        except client.ApiException as exc:
            raise TelemetryError(
                self.name, f"{method.__name__}: HTTP {exc.status} {exc.reason}"
            ) from exc
        # urllib3's timeouts, refused connections and undecodable answers all land here; the
        # collector must see a TelemetryError whatever went wrong below the client
        except Exception as exc:
            raise TelemetryError(self.name, f"{method.__name__}: {exc!r}"[:300]) from exc

    def close(self) -> None:
        if self._own_client:
            self.api_client.close()


def _configuration(
    host: str | None, kubeconfig: str | None, context: str | None
) -> client.Configuration:
    """A client configuration from a host URL (no auth) or a kubeconfig file; no retries."""
    configuration = client.Configuration()
    if kubeconfig is not None:
        try:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        except Exception as exc:  # the loader raises ConfigException, OSError, YAML errors
            raise TelemetryError("kubernetes", f"cannot load kubeconfig: {exc}") from exc
    elif host is not None:
        configuration.host = host.rstrip("/")
    else:
        raise ValueError("give a host URL, a kubeconfig or an api_client")
    configuration.retries = 0
    return configuration
