"""Label selectors, node selector terms and field selectors, with Kubernetes semantics.

* :func:`parse_label_selector` reads the string form used by ``?labelSelector=``
  (``app=web,tier in (a, b),!legacy``);
* :func:`label_selector_from_spec` reads the ``LabelSelector`` object of a Deployment, ReplicaSet
  or PodDisruptionBudget (``matchLabels`` and ``matchExpressions``);
* :func:`node_selector_term_matches` evaluates one ``NodeSelectorTerm`` of a node affinity;
* :func:`parse_field_selector` reads ``?fieldSelector=``
  (``spec.nodeName=n1,status.phase!=Failed``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from testbed.errors import SelectorError

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "label_selector_from_spec",
    "node_selector_matches",
    "node_selector_term_matches",
    "parse_field_selector",
    "parse_label_selector",
]


class Operator(StrEnum):
    """Operators of label and node selector requirements."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


@dataclass(frozen=True)
class Requirement:
    """One condition on a label: ``key <operator> values``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        op = self.operator
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if op in (Operator.EQUALS, Operator.IN):
            return present and value in self.values
        if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
            return not present or value not in self.values
        # Gt / Lt: both sides must be integers, otherwise the requirement does not match.
        if not present or not _is_int(value):
            return False
        limit = int(self.values[0])
        return int(value) > limit if op is Operator.GT else int(value) < limit

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if op in (Operator.EQUALS, Operator.NOT_EQUALS):
            return f"{self.key}{op.value}{self.values[0]}"
        if op in (Operator.GT, Operator.LT):
            return f"{self.key}{'>' if op is Operator.GT else '<'}{self.values[0]}"
        word = "in" if op is Operator.IN else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold; no requirements match everything.

    ``matches_nothing`` marks the selector that a missing (``None``) selector stands for in
    Kubernetes objects: it selects no object at all.
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector has no requirements and therefore matches every object."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.matches_nothing:
            return False
        return all(req.matches(labels) for req in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


# ---------------------------------------------------------------------------------------------
# Validation of keys and values (k8s.io/apimachinery/pkg/util/validation).

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"(?:(?P<prefix>{_DNS_SUBDOMAIN})/)?(?P<name>{_NAME})")
_VALUE = re.compile(rf"(?:{_NAME})?")
_INT = re.compile(r"[+-]?\d+")


def _is_int(text: str) -> bool:
    return _INT.fullmatch(text) is not None


def _check_key(key: str, where: str) -> str:
    match = _KEY.fullmatch(key)
    if match is None or len(match["name"]) > 63 or len(match["prefix"] or "") > 253:
        raise SelectorError(f"{where}: invalid label key {key!r}")
    return key


def _check_value(value: str, where: str) -> str:
    if _VALUE.fullmatch(value) is None or len(value) > 63:
        raise SelectorError(f"{where}: invalid label value {value!r}")
    return value


def _requirement(key: str, op: Operator, values: Sequence[str], where: str) -> Requirement:
    """Build a validated requirement; ``where`` names the offending part in errors."""
    _check_key(key, where)
    if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if values:
            raise SelectorError(f"{where}: values must be empty for operator {op.value}")
    elif op in (Operator.IN, Operator.NOT_IN):
        if not values:
            raise SelectorError(f"{where}: values must not be empty for operator {op.value}")
    elif len(values) != 1:
        raise SelectorError(f"{where}: exactly one value is required for operator {op.value}")
    if op in (Operator.GT, Operator.LT):
        if not _is_int(values[0]):
            raise SelectorError(f"{where}: value {values[0]!r} must be an integer")
    else:
        for value in values:
            _check_value(value, where)
    return Requirement(key, op, tuple(values))


# ---------------------------------------------------------------------------------------------
# The string form.

_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|=|!|\(|\)|,|>|<)|(?P<word>[^\s!=(),<>]+))")
_STRING_OPERATORS = {
    "=": Operator.EQUALS,
    "==": Operator.EQUALS,
    "!=": Operator.NOT_EQUALS,
    ">": Operator.GT,
    "<": Operator.LT,
}


def _tokenize(text: str) -> list[tuple[str, str]]:
    """Split a selector into ``("op", "!=")`` and ``("word", "app")`` tokens."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None:  # pragma: no cover - the pattern accepts every non-blank character
            raise SelectorError(f"invalid label selector {text!r} at {stripped[pos:]!r}")
        kind = "op" if match["op"] is not None else "word"
        tokens.append((kind, match[kind]))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str] | None:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, expected: str, found: tuple[str, str] | None) -> SelectorError:
        what = repr(found[1]) if found else "end of selector"
        return SelectorError(
            f"invalid label selector {self.text!r}: expected {expected}, found {what}"
        )

    def word(self, expected: str) -> str:
        token = self.take()
        if token is None or token[0] != "word":
            raise self.fail(expected, token)
        return token[1]

    def at_end_of_requirement(self) -> bool:
        token = self.peek()
        return token is None or token == ("op", ",")

    def requirement(self) -> Requirement:
        start = self.pos
        if self.peek() == ("op", "!"):
            self.take()
            key = self.word("a label key after '!'")
            return _requirement(key, Operator.DOES_NOT_EXIST, (), self._part(start))
        key = self.word("a label key")
        if self.at_end_of_requirement():
            return _requirement(key, Operator.EXISTS, (), self._part(start))
        token = self.take()
        assert token is not None
        if token[0] == "op" and token[1] in _STRING_OPERATORS:
            value = ""
            if not self.at_end_of_requirement():
                value = self.word("a label value")
            return _requirement(key, _STRING_OPERATORS[token[1]], (value,), self._part(start))
        if token in (("word", "in"), ("word", "notin")):
            op = Operator.IN if token[1] == "in" else Operator.NOT_IN
            return _requirement(key, op, self.value_set(), self._part(start))
        raise self.fail(f"an operator after {key!r}", token)

    def value_set(self) -> list[str]:
        token = self.take()
        if token != ("op", "("):
            raise self.fail("'(' after in/notin", token)
        values: list[str] = []
        while True:
            values.append(self.word("a value"))
            token = self.take()
            if token == ("op", ")"):
                return values
            if token != ("op", ","):
                raise self.fail("',' or ')' in a value set", token)

    def _part(self, start: int) -> str:
        part = " ".join(text for _, text in self.tokens[start : self.pos])
        return f"invalid label selector {self.text!r} in {part!r}"

    def parse(self) -> LabelSelector:
        requirements: list[Requirement] = []
        if not self.tokens:
            return LabelSelector()
        while True:
            requirements.append(self.requirement())
            token = self.take()
            if token is None:
                return LabelSelector(tuple(requirements))
            if token != ("op", ","):
                raise self.fail("',' between requirements", token)


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form of a label selector; an empty string matches everything."""
    return _Parser(text).parse()


# ---------------------------------------------------------------------------------------------
# The object forms.

_EXPRESSION_OPERATORS = {op.value: op for op in Operator if op.value[0].isupper()}
_LABEL_SELECTOR_OPERATORS = frozenset(
    {Operator.IN, Operator.NOT_IN, Operator.EXISTS, Operator.DOES_NOT_EXIST}
)


def _expressions(
    spec: Mapping[str, Any], allowed: frozenset[Operator], where: str
) -> list[Requirement]:
    expressions = spec.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError(f"{where}.matchExpressions: expected a list")
    requirements = []
    for i, expr in enumerate(expressions):
        at = f"{where}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            raise SelectorError(f"{at}: expected an object")
        key, op_name, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        op = _EXPRESSION_OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if op is None or op not in allowed:
            names = ", ".join(sorted(o.value for o in allowed))
            raise SelectorError(f"{at}.operator: {op_name!r} is not one of {names}")
        if not isinstance(key, str):
            raise SelectorError(f"{at}.key: expected a string")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError(f"{at}.values: expected a list of strings")
        requirements.append(_requirement(key, op, values, at))
    return requirements


def label_selector_from_spec(
    spec: Mapping[str, Any] | None, *, none_matches_all: bool = False
) -> LabelSelector:
    """Build a selector from a ``LabelSelector`` object.

    An empty object (``{}``) matches everything; ``None`` matches nothing unless
    ``none_matches_all`` is set.
    """
    if spec is None:
        return LabelSelector() if none_matches_all else LabelSelector(matches_nothing=True)
    if not isinstance(spec, Mapping):
        raise SelectorError("selector: expected an object")
    match_labels = spec.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("selector.matchLabels: expected an object")
    requirements = []
    for key, value in match_labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError(f"selector.matchLabels[{key}]: expected a string value")
        where = f"selector.matchLabels[{key}]"
        requirements.append(_requirement(key, Operator.EQUALS, (value,), where))
    requirements += _expressions(spec, _LABEL_SELECTOR_OPERATORS, "selector")
    return LabelSelector(tuple(requirements))


_NODE_OPERATORS = frozenset(_LABEL_SELECTOR_OPERATORS | {Operator.GT, Operator.LT})


def node_selector_term_matches(
    term: Mapping[str, Any],
    labels: Mapping[str, str],
    *,
    fields: Mapping[str, str] | None = None,
) -> bool:
    """Whether a node with ``labels`` satisfies one ``NodeSelectorTerm``.

    All ``matchExpressions`` (on labels) and ``matchFields`` (on ``fields``, e.g.
    ``{"metadata.name": "node-1"}``) must hold. A term with neither matches no node, as in
    Kubernetes.
    """
    if not isinstance(term, Mapping):
        raise SelectorError("nodeSelectorTerm: expected an object")
    on_labels = _expressions(term, _NODE_OPERATORS, "nodeSelectorTerm")
    field_spec = {"matchExpressions": term.get("matchFields")}
    on_fields = _expressions(field_spec, _NODE_OPERATORS, "nodeSelectorTerm.matchFields")
    if not on_labels and not on_fields:
        return False
    return all(r.matches(labels) for r in on_labels) and all(
        r.matches(fields or {}) for r in on_fields
    )


def node_selector_matches(
    selector: Mapping[str, Any],
    labels: Mapping[str, str],
    *,
    fields: Mapping[str, str] | None = None,
) -> bool:
    """Whether a node satisfies a ``NodeSelector``: any one of its ``nodeSelectorTerms``."""
    terms = selector.get("nodeSelectorTerms") or []
    if not isinstance(terms, list):
        raise SelectorError("nodeSelector.nodeSelectorTerms: expected a list")
    return any(node_selector_term_matches(term, labels, fields=fields) for term in terms)


# ---------------------------------------------------------------------------------------------
# Field selectors.


@dataclass(frozen=True)
class FieldRequirement:
    """``field = value`` or ``field != value``."""

    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{self.value}"


@dataclass(frozen=True)
class FieldSelector:
    """Field requirements that must all hold; no requirements match everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names used, in first-use order, so a server can reject unsupported ones."""
        return tuple(dict.fromkeys(req.field for req in self.requirements))

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether every requirement holds; a field absent from ``fields`` reads as ``""``."""
        return all(req.matches(fields) for req in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


_FIELD_PART = re.compile(
    r"(?P<field>(?:[^\\=!,]|\\.)*?)\s*(?P<op>==|!=|=)(?P<value>(?:[^\\]|\\.)*)"
)
_ESCAPE = re.compile(r"\\(.)")
_UNESCAPED_COMMA = re.compile(r"(?<!\\)((?:\\\\)*),")


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``a=b,c!=d`` (``\\,``, ``\\=`` and ``\\\\`` escape); empty matches everything."""
    if not text.strip():
        return FieldSelector()
    requirements = []
    for raw in _UNESCAPED_COMMA.sub(lambda m: m[1] + "\0", text).split("\0"):
        part = raw.strip()
        match = _FIELD_PART.fullmatch(part)
        if match is None or not match["field"].strip():
            raise SelectorError(
                f"invalid field selector {text!r}: {part!r} is not field=value or field!=value"
            )
        field = _ESCAPE.sub(r"\1", match["field"].strip())
        value = _ESCAPE.sub(r"\1", match["value"].strip())
        requirements.append(FieldRequirement(field, value, negated=match["op"] == "!="))
    return FieldSelector(tuple(requirements))
