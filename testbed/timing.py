"""Kubernetes' own timing, with the defaults documented in one table and overridable.

Nothing in the testbed happens instantly that does not in Kubernetes: a new pod is scheduled,
pulls its image, starts its container and only then passes its readiness probe; a crashing
container waits in CrashLoopBackOff; a node that stops reporting is marked NotReady after the
node monitor grace period and its pods are evicted only after the default toleration.

``TIMING_TABLE`` is rendered into ``docs/testbed.md``; override any value with
``Timing.with_overrides({"image_pull_s": 2.0})``, an application file's ``timing:`` section or
``aiops testbed serve --timing image_pull_s=2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from .errors import AppSpecError


@dataclass(frozen=True)
class Timing:
    scheduling_s: float = 0.5
    image_pull_s: float = 6.0
    image_present_s: float = 0.3
    container_start_s: float = 1.0
    readiness_initial_delay_s: float = 5.0
    readiness_failure_s: float = 30.0
    backoff_initial_s: float = 10.0
    backoff_max_s: float = 300.0
    backoff_reset_s: float = 600.0
    termination_s: float = 2.0
    termination_grace_s: float = 30.0
    node_monitor_grace_s: float = 40.0
    default_toleration_s: float = 300.0
    unschedulable_retry_s: float = 10.0
    event_ttl_s: float = 3600.0

    def with_overrides(self, overrides: Mapping[str, float]) -> Timing:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise AppSpecError(
                f"unknown timing setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, float] = {}
        for key, value in overrides.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise AppSpecError(f"timing setting {key}: not a number: {value!r}") from None
            if number < 0:
                raise AppSpecError(f"timing setting {key}: must be >= 0, got {number}")
            values[key] = number
        return replace(self, **values)


#: (setting, Kubernetes counterpart, meaning) for every field of :class:`Timing`.
TIMING_TABLE: tuple[tuple[str, str, str], ...] = (
    ("scheduling_s", "kube-scheduler queue + bind", "from pod creation to binding to a node"),
    ("image_pull_s", "kubelet image pull", "pulling an image the node has not pulled before"),
    ("image_present_s", "`Container image already present`", "image already on the node"),
    ("container_start_s", "container runtime create + start", "from image ready to Started"),
    (
        "readiness_initial_delay_s",
        "`readinessProbe.initialDelaySeconds` (+ first period)",
        "from Started to Ready when the pod spec sets no probe",
    ),
    (
        "readiness_failure_s",
        "`periodSeconds` 10 x `failureThreshold` 3",
        "from a hung (not crashed) container to Ready=False",
    ),
    ("backoff_initial_s", "kubelet CrashLoopBackOff", "first restart delay; doubles per crash"),
    ("backoff_max_s", "kubelet CrashLoopBackOff cap", "longest restart delay"),
    ("backoff_reset_s", "kubelet back-off reset", "running this long resets the back-off"),
    ("termination_s", "SIGTERM handling", "a cooperative container's exit after deletion"),
    (
        "termination_grace_s",
        "`terminationGracePeriodSeconds`",
        "upper bound on termination when the spec sets none",
    ),
    (
        "node_monitor_grace_s",
        "kube-controller-manager `--node-monitor-grace-period`",
        "silent kubelet to NodeNotReady (Ready=Unknown) and pods NotReady",
    ),
    (
        "default_toleration_s",
        "DefaultTolerationSeconds admission (`not-ready`/`unreachable`)",
        "NotReady node to eviction of its pods",
    ),
    ("unschedulable_retry_s", "scheduler back-off for unschedulable pods", "retry interval"),
    ("event_ttl_s", "kube-apiserver `--event-ttl`", "how long events are kept"),
)


def timing_table_markdown(timing: Timing | None = None) -> str:
    """The table of defaults, as Markdown (used by the docs and ``aiops testbed timing``)."""
    timing = timing or Timing()
    rows = ["| setting | default (s) | Kubernetes counterpart | meaning |", "|---|---|---|---|"]
    for name, counterpart, meaning in TIMING_TABLE:
        rows.append(f"| `{name}` | {getattr(timing, name):g} | {counterpart} | {meaning} |")
    return "\n".join(rows)
