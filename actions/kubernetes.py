"""The one action backend: the official ``kubernetes`` client, against the testbed or any cluster.

``observe(target)`` reads the target into an :class:`~actions.observed.Observed` snapshot;
``apply(request, observed)`` writes the request's absolute desired state with the observed
``resourceVersion`` as precondition. Applying is idempotent: when the desired state already holds
nothing is sent and the result says ``already_satisfied``, so a replay never acts twice and never
goes one step further. Errors become the domain's exceptions:

- 409 Conflict (the target changed) and 404 (it went) → :class:`~controlplane.PreconditionFailed`;
- any other API error, a timeout or an unreachable server → :class:`~controlplane.ActionFailed`
  with the client's exception as cause;
- a drain whose evictions a disruption budget keeps refusing (429) is no error: it is retried with
  back-off and then reported ``partial``, never forced.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from kubernetes import client
from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError

from controlplane import (
    ActionError,
    ActionFailed,
    ActionKind,
    ActionRequest,
    BatchState,
    Clock,
    DrainState,
    EscalationState,
    PlacementState,
    PodDeletionState,
    PreconditionFailed,
    ReplicasState,
    ResourcesState,
    RestartState,
    RevisionState,
    SchedulableState,
    ServicePortState,
    Settings,
    SystemClock,
    TargetRef,
)

from . import k8s_apply as write
from .catalogue import get_spec, step_pairs
from .k8s_client import Apis, client_from_settings
from .k8s_observe import observe_target
from .observed import Observed
from .result import ActionResult, ResultStatus

__all__ = ["ActionBackend", "KubernetesBackend"]

log = logging.getLogger(__name__)


@runtime_checkable
class ActionBackend(Protocol):
    """Where actions are carried out."""

    def observe(self, target: TargetRef) -> Observed:
        """The target as it is now (``exists=False`` when the cluster does not have it)."""
        ...

    def apply(self, request: ActionRequest, observed: Observed) -> ActionResult:
        """Bring the target to ``request.desired``, with ``observed`` as the precondition."""
        ...


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or exc.status)


class KubernetesBackend:
    """Actions through the Kubernetes API.

    ``api`` is an official-client ``ApiClient`` (see :func:`~actions.k8s_client.api_client`);
    ``timeout_s`` bounds every call; ``clock`` paces the back-off of refused evictions (tests
    pass one that advances a simulated cluster); ``eviction`` sets how long a drain retries.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        timeout_s: float = 5.0,
        clock: Clock | None = None,
        eviction: write.EvictionPolicy | None = None,
    ) -> None:
        self.apis = Apis.of(api, timeout_s)
        self.clock: Clock = clock or SystemClock()
        self.eviction = eviction or write.EvictionPolicy()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        eviction: write.EvictionPolicy | None = None,
    ) -> KubernetesBackend:
        """``AIOPS_KUBE_HOST``, else ``AIOPS_KUBECONFIG``, else the testbed's URL; every call
        times out after ``AIOPS_HTTP_TIMEOUT_SECONDS``."""
        return cls(
            client_from_settings(settings),
            timeout_s=settings.http_timeout_seconds,
            clock=clock,
            eviction=eviction,
        )

    def close(self) -> None:
        self.apis.api.close()

    # -- observing -------------------------------------------------------------------------------

    def observe(self, target: TargetRef) -> Observed:
        try:
            return observe_target(self.apis, target)
        except ApiException as exc:
            raise ActionFailed(
                f"cannot observe {target}: {exc.status} {_status_message(exc)}"
            ) from exc
        except (HTTPError, OSError) as exc:
            raise ActionFailed(f"cannot observe {target}: {exc}") from exc

    # -- applying --------------------------------------------------------------------------------

    def apply(self, request: ActionRequest, observed: Observed) -> ActionResult:
        spec = get_spec(request.kind)
        if request.kind is ActionKind.NOOP:
            return self._result(request, ResultStatus.NOTHING_TO_DO, "no action taken")
        if isinstance(request.desired, EscalationState):
            reason = request.desired.reason
            return self._result(request, ResultStatus.ESCALATED, f"escalated: {reason}")
        if spec.is_satisfied(request, observed):
            return self._result(
                request,
                ResultStatus.ALREADY_SATISFIED,
                f"already satisfied: {request.target} is already in the desired state",
                resource_version=observed.resource_version,
            )
        spec.validate(request, observed)
        if isinstance(request.desired, BatchState):
            return self._batch(request, observed)
        fields = {"action_id": request.id, "kind": str(request.kind), "target": str(request.target)}
        log.info("applying action", extra=fields)
        try:
            return self._write(request, observed)
        except ApiException as exc:
            message = _status_message(exc)
            if exc.status == 409:
                raise PreconditionFailed(
                    f"{request.target} changed since it was observed (409 Conflict): {message}"
                ) from exc
            if exc.status == 404:
                raise PreconditionFailed(f"{request.target} not found (404): {message}") from exc
            raise ActionFailed(
                f"{request.kind} on {request.target} failed: {exc.status} {message}"
            ) from exc
        except (HTTPError, OSError) as exc:
            raise ActionFailed(f"{request.kind} on {request.target} failed: {exc}") from exc

    def _write(self, request: ActionRequest, observed: Observed) -> ActionResult:
        apis, target, rv = self.apis, request.target, observed.resource_version
        match request.desired:
            case DrainState():
                return self._drain(request, observed, rv)
            case ReplicasState(replicas=replicas):
                after = write.scale(apis, target, replicas, rv)
            case RestartState(restarted_at=restarted_at):
                after = write.restart(apis, target, restarted_at, rv)
            case RevisionState(revision=revision):
                entry = observed.workload.revision_entry(revision) if observed.workload else None
                if entry is None:  # validate() checked it; keep the writer honest anyway
                    raise PreconditionFailed(f"revision {revision} of {target} not found")
                after = write.rollback(apis, target, entry.replicaset, rv)
            case ResourcesState() as resources:
                after = write.set_resources(apis, target, resources, rv)
            case PlacementState() as placement:
                after = write.move(apis, target, placement, rv)
            case SchedulableState(unschedulable=unschedulable):
                after = write.cordon(apis, target.name, unschedulable, rv)
            case ServicePortState() as port:
                after = write.revert_port(apis, target, port, rv)
            case PodDeletionState(pod_uid=uid):
                after = write.delete_pod(apis, target, uid, rv)
            case _:  # pragma: no cover - noop and escalate never get here
                raise ActionFailed(f"no writer for {request.kind}")
        return self._result(
            request,
            ResultStatus.APPLIED,
            f"{request.kind} applied to {target}",
            resource_version=after,
        )

    def _batch(self, request: ActionRequest, observed: Observed) -> ActionResult:
        """Each step in order; a step that fails after others were applied makes the result
        partial (naming the steps not done), a first step's failure is the batch's."""
        pairs = step_pairs(request, observed)
        done: list[str] = []
        for index, (step, seen) in enumerate(pairs):
            try:
                self.apply(step, seen)
            except ActionError as exc:
                if not done:
                    raise
                left = [str(s.target) for s, _ in pairs[index:]]
                message = f"batch on {request.target} stopped at {step.target}: {exc}"
                return self._result(request, ResultStatus.PARTIAL, message, remaining=left)
            done.append(f"{step.kind} {step.target.name}")
        message = f"batch applied in {request.target}: {', '.join(done)}"
        return self._result(request, ResultStatus.APPLIED, message)

    def _drain(self, request: ActionRequest, observed: Observed, rv: str | None) -> ActionResult:
        stamp = datetime.fromtimestamp(request.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        outcome = write.drain(self.apis, observed, rv, self.clock, self.eviction, stamp)
        if outcome.remaining:
            message = (
                f"drain of {request.target} partial: {len(outcome.remaining)} pod(s) remain "
                f"after {self.eviction.attempts} attempts: {outcome.refusal}"
            )
            status = ResultStatus.PARTIAL
        else:
            message = f"drained {request.target}: evicted {len(outcome.evicted)} pod(s)"
            if outcome.rolled:
                message += f", rolled {', '.join(outcome.rolled)} (their only pods were there)"
            status = ResultStatus.APPLIED
        return self._result(
            request,
            status,
            message,
            resource_version=outcome.resource_version,
            evicted=outcome.evicted,
            remaining=outcome.remaining,
        )

    @staticmethod
    def _result(
        request: ActionRequest,
        status: ResultStatus,
        message: str,
        *,
        resource_version: str | None = None,
        evicted: list[str] | None = None,
        remaining: list[str] | None = None,
    ) -> ActionResult:
        return ActionResult(
            request_id=request.id,
            kind=request.kind,
            target=request.target,
            status=status,
            message=message,
            resource_version=resource_version,
            evicted=evicted or [],
            remaining=remaining or [],
        )
