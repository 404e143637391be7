"""Actions: the catalogue, guardrail policy and Kubernetes backend (the executor and the audit
trail build on these).

The executor-facing API::

    spec = CATALOGUE[request.kind]                       # or get_spec(kind) for untrusted input
    observed = backend.observe(request.target)           # a batch: each step's, as .steps
    if not spec.is_satisfied(request, observed):
        spec.validate(request, observed)                 # ActionRejected / PreconditionFailed
    verdict = guardrails.evaluate(request, observed, history, now)
    undo = spec.inverse(request, observed)               # before applying: from the old state
    result = backend.apply(request, observed)            # if verdict.allowed
"""

from actions.catalogue import (
    CATALOGUE,
    VALIDATION_RULE,
    ActionSpec,
    Risk,
    batch_steps,
    get_spec,
    parse_request,
)
from actions.executor import Executor, Preview, StoreActionHistory
from actions.guardrails import (
    Approval,
    Bounds,
    GuardrailConfig,
    Guardrails,
    OptOut,
    RateLimit,
    ReplicaBounds,
    Rule,
    Verdict,
    VerdictKind,
    load_guardrail_config,
)
from actions.history import ActionHistory, InMemoryActionHistory
from actions.k8s_apply import EvictionPolicy
from actions.k8s_client import api_client, client_from_settings
from actions.kubernetes import ActionBackend, KubernetesBackend
from actions.observed import Observed
from actions.result import ActionResult, ResultStatus

__all__ = [
    "CATALOGUE",
    "VALIDATION_RULE",
    "ActionBackend",
    "ActionHistory",
    "ActionResult",
    "ActionSpec",
    "Approval",
    "Bounds",
    "EvictionPolicy",
    "Executor",
    "GuardrailConfig",
    "Guardrails",
    "InMemoryActionHistory",
    "KubernetesBackend",
    "Observed",
    "OptOut",
    "Preview",
    "RateLimit",
    "ReplicaBounds",
    "ResultStatus",
    "Risk",
    "Rule",
    "StoreActionHistory",
    "Verdict",
    "VerdictKind",
    "api_client",
    "batch_steps",
    "client_from_settings",
    "get_spec",
    "load_guardrail_config",
    "parse_request",
]
