"""What an operator's message asks for: candidate intents, found without a model.

Cue phrases weigh each kind of intent (``why`` weighs *explain* a little, ``slow`` more;
``what did you do`` weighs *history* most); each cued intent then takes its slots from the
message: names the store or the cluster know (:class:`~agents.chat.names.Known`) and numbers.
An intent whose slots cannot be filled is dropped, with the reason kept. A word that names
nothing known never becomes a target: a change whose message holds a word naming nothing known,
more than one target or more than one number is not made; the answer says what is known or
what to say. Asking to approve or reject is not a chat intent (the approvals route is the one
way to decide).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from controlplane import TargetRef

from .names import LABEL, Known

__all__ = ["CHANGES", "HELP", "Intent", "IntentKind", "Parsed", "parse"]


class IntentKind(StrEnum):
    EXPLAIN = "explain"
    HISTORY = "history"
    STATUS = "status"
    SCALE = "scale"
    RESTART = "restart"
    PAUSE = "pause"
    RESUME = "resume"


CHANGES = frozenset({IntentKind.SCALE, IntentKind.RESTART, IntentKind.PAUSE, IntentKind.RESUME})
"""Intents that change the cluster or the control plane (a role, then the guardrails)."""

_K = IntentKind
_CUES: dict[IntentKind, tuple[tuple[re.Pattern[str], float], ...]] = {
    _K.EXPLAIN: (
        (re.compile(r"\bwhy\b"), 1.0),
        (
            re.compile(
                r"\b(slow\w*|latency|lag\w*|fail\w*|errors?|erroring|(?<!scale )down|broken"
                r"|unhealthy|wrong|crash\w*|timeouts?|timing out|degraded|explain)\b"
            ),
            2.0,
        ),
    ),
    _K.HISTORY: (
        (re.compile(r"\bwhat (did|have) you (do|done)\b"), 3.0),
        (re.compile(r"\b(history|did you|have you|you did|done to|changed?)\b"), 2.0),
        (re.compile(r"\bactions?\b"), 1.0),
    ),
    _K.STATUS: (
        (re.compile(r"\b(what s|what is|whats) (going on|happening|up|open|wrong)\b"), 3.0),
        (re.compile(r"\b(status|incidents?|overview|summary|on fire)\b"), 2.0),
    ),
    _K.SCALE: ((re.compile(r"\bscale\b"), 3.0), (re.compile(r"\breplicas?\b"), 2.0)),
    _K.RESTART: ((re.compile(r"\b(restart|bounce|reboot)\b"), 3.0),),
    _K.PAUSE: ((re.compile(r"\b(pause|freeze|halt)\b"), 3.0),),
    _K.RESUME: ((re.compile(r"\b(resume|unpause|unfreeze)\b"), 3.0),),
}
del _K
_DECIDE = re.compile(r"\b(approve|reject|deny|decline)\b")
_EVERYTHING = re.compile(r"\b(everything|everywhere|all|cluster|whole)\b")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9/_.-]*")
_VOCABULARY = frozenset(
    re.split(
        r"\s+",
        """a about actions action again all am an and any anything are as at be been being but by
        can cluster could deployment deployments did do does doing done down everything
        everywhere explain for from going happened happening has have hey hi how i in incident
        incidents is it its just last let lately me more my namespace now of off on open or our
        please pods pod replica replicas s service services so some status that the their them
        then there these this to today up us was we were what whats when where which whole why
        will with would you your instances instance copies tell show give""".strip(),
    )
)
"""Words that are no names: an unknown word outside it is worth an "unknown name" answer."""
_READ = [p for cues in _CUES.values() for p, _ in cues] + [_DECIDE, _EVERYTHING]


@dataclass(frozen=True)
class Intent:
    """One thing the message may ask for, with its slots filled from known names."""

    kind: IntentKind
    weight: float
    services: tuple[str, ...] = ()
    target: TargetRef | None = None
    replicas: int | None = None
    namespace: str | None = None
    """A pause's or resume's namespace (``None``: the whole control plane)."""

    @property
    def changes(self) -> bool:
        return self.kind in CHANGES

    def describe(self) -> str:
        """The intent by names and numbers only (an option shown to a model)."""
        about = ", ".join(self.services) or "every service"
        where = f"namespace {self.namespace}" if self.namespace else "every namespace"
        target = "" if self.target is None else f"{self.target.namespace}/{self.target.name}"
        return {
            IntentKind.EXPLAIN: f"explain why {about} is slow or failing (incidents, metrics)",
            IntentKind.HISTORY: f"list the actions taken on {about} and why",
            IntentKind.STATUS: "list the open incidents",
            IntentKind.SCALE: f"scale deployment {target} to {self.replicas} replicas",
            IntentKind.RESTART: f"restart deployment {target}",
            IntentKind.PAUSE: f"pause automated actions in {where}",
            IntentKind.RESUME: f"resume automated actions in {where}",
        }[self.kind]


@dataclass(frozen=True)
class Parsed:
    """The candidates (heaviest first), or why none fits."""

    candidates: tuple[Intent, ...] = ()
    problem: str | None = None
    note: str | None = None
    """Said before the answer (names in the message that name nothing known)."""
    unknown: tuple[str, ...] = ()
    """Words that name nothing known (looking them up in the cluster may resolve them)."""
    decide: bool = False
    """The message asks to approve or reject: answered with the approvals route."""
    wants_names: bool = False
    """An intent lacked a name while ``unknown`` is not empty."""

    def prior(self) -> list[float]:
        """Each candidate's share of the cue weight."""
        total = sum(i.weight for i in self.candidates) or 1.0
        return [i.weight / total for i in self.candidates]


@dataclass(frozen=True)
class _Words:
    services: tuple[str, ...]
    namespaces: tuple[str, ...]
    unknown: tuple[str, ...]
    numbers: tuple[int, ...]


def _words(text: str, known: Known) -> _Words:
    services: list[str] = []
    namespaces: list[str] = []
    unknown: list[str] = []
    numbers: list[int] = []
    for raw in _TOKEN.findall(text):
        word = raw.rstrip("./-_")
        if word.isdigit():
            numbers.append(int(word))
        elif known.is_service(word) or ("/" in word and known.deployments(word)):
            services.append(word)
        elif word in known.namespaces:
            namespaces.append(word)
        elif not _vocabulary(word) and _is_name(word):
            unknown.append(word)
    return _Words(
        tuple(dict.fromkeys(services)),
        tuple(dict.fromkeys(namespaces)),
        tuple(dict.fromkeys(unknown)),
        tuple(dict.fromkeys(numbers)),
    )


def _vocabulary(word: str) -> bool:
    """Whether ``word`` is one of the words the parser reads (no name)."""
    return word in _VOCABULARY or any(p.fullmatch(word) for p in _READ)


def _is_name(word: str) -> bool:
    ns, _, name = word.rpartition("/")
    return bool(LABEL.fullmatch(name)) and (not ns or bool(LABEL.fullmatch(ns)))


def parse(message: str, known: Known) -> Parsed:
    """The intents ``message`` may stand for, given what is ``known``."""
    text = re.sub(r"[\u2019']", " ", message.lower())
    words = _words(text, known)
    if _DECIDE.search(text):
        return Parsed(decide=True, unknown=words.unknown)
    weights = {
        kind: sum(w for pattern, w in cues if pattern.search(text)) for kind, cues in _CUES.items()
    }
    cued = sorted((k for k, w in weights.items() if w > 0), key=lambda k: -weights[k])
    if not cued:  # no cue: a bare name asks about it
        if words.services:
            cued, weights[IntentKind.EXPLAIN] = [IntentKind.EXPLAIN], 1.0
        elif words.unknown:
            return Parsed(
                problem=_unknown(words.unknown, known), unknown=words.unknown, wants_names=True
            )
        else:
            return Parsed(problem=HELP)
    found: dict[IntentKind, Intent] = {}
    problems: list[str] = []
    for kind in cued:
        intent, problem = _fill(kind, weights[kind], text, words, known)
        if intent is not None and intent.kind not in found:
            found[intent.kind] = intent
        elif problem is not None:
            problems.append(problem)
    candidates = tuple(sorted(found.values(), key=lambda i: -i.weight))
    # a question about a service that named none: answered for every service, with a note
    broad = any(k in (IntentKind.EXPLAIN, IntentKind.HISTORY) for k in cued) and not words.services
    unknown = words.unknown
    return Parsed(
        candidates=candidates,
        problem=None if candidates else problems[0],
        note=_unknown(unknown, known) if candidates and broad and unknown else None,
        unknown=unknown,
        wants_names=bool(problems or broad) and bool(unknown),
    )


HELP = (
    "I can explain why a service is slow or failing, say what I did to a service and why, "
    "list the open incidents, and (with the role for it) scale or restart a deployment or "
    "pause and resume automated actions. For example: 'why is search slow?', "
    "'scale search to 4', 'pause everything in payments'."
)


def _unknown(words: tuple[str, ...], known: Known) -> str:
    return f"I know nothing named {', '.join(words)}. I know {known.listing()}."


def _fill(
    kind: IntentKind, weight: float, text: str, words: _Words, known: Known
) -> tuple[Intent | None, str | None]:
    """The intent with its slots, or why they cannot be filled."""
    names = tuple(dict.fromkeys(w.rpartition("/")[2] for w in words.services))[:3]
    if kind is IntentKind.EXPLAIN:
        if names:
            return Intent(kind, weight, services=names), None
        return Intent(IntentKind.STATUS, weight), None  # nothing named: what is open
    if kind is IntentKind.HISTORY:
        return Intent(kind, weight, services=names), None
    if kind is IntentKind.STATUS:
        return Intent(kind, weight), None
    if kind in (IntentKind.PAUSE, IntentKind.RESUME):
        return _scope(kind, weight, text, words, known)
    if words.unknown:  # a change names exactly what it changes, all of it known
        return None, _unknown(words.unknown, known)
    targets = list(
        {t: None for w in words.services for t in known.deployments(w, words.namespaces)}
    )
    if len(targets) != 1:
        return None, _which(kind, targets, words, known)
    if kind is IntentKind.RESTART:
        return Intent(kind, weight, target=targets[0]), None
    counts = sorted(set(words.numbers))
    if len(counts) != 1:
        said = f" (I read {', '.join(map(str, counts))})" if counts else ""
        return None, f"Say how many replicas{said}: for example 'scale {targets[0].name} to 4'."
    return Intent(kind, weight, target=targets[0], replicas=counts[0]), None


def _which(kind: IntentKind, targets: list[TargetRef], words: _Words, known: Known) -> str:
    if targets:
        named = " or ".join(f"{t.namespace}/{t.name}" for t in targets)
        return f"Which deployment should I {kind}: {named}? Ask again naming one."
    if words.services:
        return (
            f"I know {', '.join(words.services)} but not its namespace: write it as "
            f"namespace/{words.services[0]}."
        )
    return f"Say which deployment to {kind}. I know {known.listing()}."


def _scope(
    kind: IntentKind, weight: float, text: str, words: _Words, known: Known
) -> tuple[Intent | None, str | None]:
    if words.unknown:
        return None, _unknown(words.unknown, known)
    if len(words.namespaces) == 1:
        return Intent(kind, weight, namespace=words.namespaces[0]), None
    if len(words.namespaces) > 1:
        return None, f"Which namespace should I {kind}: {' or '.join(words.namespaces)}?"
    if _EVERYTHING.search(text):
        return Intent(kind, weight, namespace=None), None
    return None, f"Say which namespace to {kind}, or 'everything'. I know {known.listing()}."
