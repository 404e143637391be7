"""PATCH bodies of the simulated API server: JSON merge patch, JSON patch, strategic merge patch.

Every function returns a new object and leaves its inputs untouched. Errors are
:class:`~testbed.errors.PatchError` carrying the dotted path of the offending field where one is
known (``spec.replicas``, ``spec.template.spec.containers[0].image``), so the server can answer 422
naming it; an unknown content type is a ``PatchError`` too, which the server maps to 415.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import yaml

from testbed.errors import PatchError

__all__ = [
    "PATCH_CONTENT_TYPES",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
    "merge_patch_value",
]

JSONObject = dict[str, Any]


def _field(tokens: list[str] | tuple[str, ...]) -> str | None:
    """Dotted path of pointer tokens: ``["spec", "containers", "0"]`` → ``spec.containers[0]``."""
    path = ""
    for token in tokens:
        if token.isdigit() or token == "-" or "." in token or "/" in token:
            path += f"[{token}]"
        else:
            path += f".{token}" if path else token
    return path or None


# ---------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch.


def merge_patch_value(target: Any, patch: Any) -> Any:
    """RFC 7386 ``MergePatch(target, patch)`` on any JSON values, returning a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch_value(result.get(key), value)
    return result


def apply_merge_patch(original: JSONObject, patch: Any) -> JSONObject:
    """Apply a JSON merge patch to an object; a patch that is not an object is rejected.

    (RFC 7386 would replace the whole document with a non-object patch, but a Kubernetes object
    must stay an object; :func:`merge_patch_value` has the unrestricted behaviour.)
    """
    if not isinstance(patch, dict):
        raise PatchError(f"merge patch must be a JSON object, not {type(patch).__name__}")
    result: JSONObject = merge_patch_value(original, patch)
    return result


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch with RFC 6901 pointers.

_INDEX = re.compile(r"0|[1-9]\d*")


def _pointer(pointer: Any, where: str) -> list[str]:
    if not isinstance(pointer, str):
        raise PatchError(f"{where}: JSON pointer must be a string, not {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"{where}: JSON pointer {pointer!r} must start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise PatchError(f"{where}: invalid escape in JSON pointer {pointer!r}", _field(tokens))
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _index(container: list[Any], token: str, where: str, tokens: list[str], *, end: bool) -> int:
    """List index of ``token``; ``end`` allows ``len`` (and ``-``) for insertion."""
    if end and token == "-":
        return len(container)
    limit = len(container) if end else len(container) - 1
    if _INDEX.fullmatch(token) is None or int(token) > limit:
        raise PatchError(f"{where}: array index {token!r} out of range", _field(tokens))
    return int(token)


def _child(node: Any, token: str, where: str, tokens: list[str]) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f"{where}: path not found", _field(tokens))
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, where, tokens, end=False)]
    raise PatchError(f"{where}: path not found (not a container)", _field(tokens))


def _get(doc: Any, tokens: list[str], where: str) -> Any:
    node = doc
    for i, token in enumerate(tokens):
        node = _child(node, token, where, tokens[: i + 1])
    return node


def _add(doc: Any, tokens: list[str], value: Any, where: str) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1], where)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], where, tokens, end=True), value)
    else:
        raise PatchError(f"{where}: parent of the path is not a container", _field(tokens))
    return doc


def _remove(doc: Any, tokens: list[str], where: str) -> Any:
    """Remove the value at ``tokens`` and return it."""
    if not tokens:
        raise PatchError(f"{where}: cannot remove the whole document")
    parent = _get(doc, tokens[:-1], where)
    value = _child(parent, tokens[-1], where, tokens)
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[int(tokens[-1])]
    return value


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _value(op: Mapping[str, Any], where: str, tokens: list[str]) -> Any:
    if "value" not in op:
        raise PatchError(f"{where}: missing 'value'", _field(tokens))
    return copy.deepcopy(op["value"])


def _apply_op(doc: Any, op: Mapping[str, Any], number: int) -> Any:
    name = op.get("op")
    where = f"JSON patch operation {number}"
    if "path" not in op:
        raise PatchError(f"{where}: missing 'path'")
    tokens = _pointer(op["path"], where)
    where = f"JSON patch operation {number} ({name} {op['path']})"
    if name in ("move", "copy"):
        if "from" not in op:
            raise PatchError(f"{where}: missing 'from'", _field(tokens))
        source = _pointer(op["from"], where)
        if name == "move":
            if tokens[: len(source)] == source and tokens != source:
                raise PatchError(f"{where}: cannot move a value into itself", _field(tokens))
            return _add(doc, tokens, _remove(doc, source, where), where)
        return _add(doc, tokens, copy.deepcopy(_get(doc, source, where)), where)
    if name == "add":
        return _add(doc, tokens, _value(op, where, tokens), where)
    if name == "remove":
        _remove(doc, tokens, where)
        return doc
    if name == "replace":
        value = _value(op, where, tokens)
        _get(doc, tokens, where)  # the target must exist
        if not tokens:
            return value
        _remove(doc, tokens, where)
        return _add(doc, tokens, value, where)
    if name == "test":
        if not _json_equal(_get(doc, tokens, where), _value(op, where, tokens)):
            raise PatchError(f"{where}: test failed", _field(tokens))
        return doc
    raise PatchError(f"{where}: unknown or missing 'op' {name!r}", _field(tokens))


def apply_json_patch(original: JSONObject, ops: Any) -> JSONObject:
    """Apply an RFC 6902 JSON patch (a list of operations) atomically to a copy of ``original``."""
    if not isinstance(ops, list):
        raise PatchError(f"JSON patch must be a list of operations, not {type(ops).__name__}")
    doc: Any = copy.deepcopy(original)
    for number, op in enumerate(ops):
        if not isinstance(op, dict):
            raise PatchError(f"JSON patch operation {number}: expected an object, not {op!r}")
        doc = _apply_op(doc, op, number)
    if not isinstance(doc, dict):
        raise PatchError("JSON patch result must be a JSON object")
    return doc


# ---------------------------------------------------------------------------------------------
# Kubernetes strategic merge patch.

_MERGE_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "containers": "name",
        "initContainers": "name",
        "ephemeralContainers": "name",
        "env": "name",
        "volumes": "name",
        "imagePullSecrets": "name",
        "volumeMounts": "mountPath",
        "taints": "key",
        "conditions": "type",
        "ownerReferences": "uid",
        "hostAliases": "ip",
    }
)
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    if field == "ports":
        return "containerPort" if _CONTAINER_LISTS.intersection(path) else "port"
    return _MERGE_KEYS.get(field)


def _directive(patch: Mapping[str, Any], path: tuple[str, ...]) -> str:
    directive = patch.get("$patch", "merge")
    if directive not in ("merge", "replace", "delete"):
        raise PatchError(f"unknown $patch directive {directive!r}", _field(path))
    return str(directive)


def _strip(value: Any, path: tuple[str, ...]) -> Any:
    """A patch value with no original to merge into: drop nulls and directives."""
    if isinstance(value, dict):
        return _merge_dict({}, value, path)
    if isinstance(value, list):
        return [_strip(item, path) for item in value]
    return value


def _merge_dict(original: JSONObject, patch: JSONObject, path: tuple[str, ...]) -> JSONObject:
    if _directive(patch, path) == "replace":
        return {k: _strip(v, (*path, k)) for k, v in patch.items() if not k.startswith("$")}
    result = copy.deepcopy(original)
    for key, value in patch.items():
        where = (*path, key)
        if key.startswith(_SET_ORDER):
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list", _field(path))
        elif key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list", _field((*path, field)))
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
        elif key in ("$patch", "$retainKeys"):
            continue
        elif key.startswith("$"):
            raise PatchError(f"unknown patch directive {key!r}", _field(path))
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if _directive(value, where) == "delete":
                result.pop(key, None)
                continue
            current = result.get(key)
            result[key] = _merge_dict(current if isinstance(current, dict) else {}, value, where)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, path)
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list", _field(path))
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, original: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    where = (*path, field)
    current = copy.deepcopy(original) if isinstance(original, list) else []
    if field in _PRIMITIVE_MERGE_LISTS:
        for value in patch:
            if value not in current:
                current.append(value)
        return current
    key = _merge_key(field, path)
    if key is None:
        return [_strip(item, where) for item in patch]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip(i, where) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    for i, item in enumerate(patch):
        at = f"{_field(where)}[{i}]"
        if not isinstance(item, dict):
            raise PatchError(f"{at}: expected an object with merge key {key!r}", at)
        if key not in item:
            raise PatchError(f"{at}: missing merge key {key!r}", f"{at}.{key}")
        matches = [
            n
            for n, elem in enumerate(current)
            if isinstance(elem, dict) and elem.get(key) == item[key]
        ]
        if _directive(item, where) == "delete":
            current = [e for n, e in enumerate(current) if n not in matches]
        elif matches:
            current[matches[0]] = _merge_dict(current[matches[0]], item, where)
        else:
            current.append(_merge_dict({}, item, where))
    return current


def apply_strategic_merge_patch(original: JSONObject, patch: Any) -> JSONObject:
    """Apply a Kubernetes strategic merge patch for the built-in types the testbed serves.

    Maps merge recursively and ``null`` deletes; lists of objects with a merge key (containers by
    ``name``, ports by ``containerPort`` or ``port`` ...) merge element-wise, honouring
    ``$patch: delete`` / ``replace``; ``finalizers`` merge as a set; other lists are replaced.
    ``$setElementOrder`` directives are accepted and their order ignored.
    """
    if not isinstance(patch, dict):
        raise PatchError(f"strategic merge patch must be a JSON object, not {type(patch).__name__}")
    return _merge_dict(original, patch, ())


# ---------------------------------------------------------------------------------------------
# Dispatch by content type.

PatchFunction = Callable[[JSONObject, Any], JSONObject]

PATCH_CONTENT_TYPES: Mapping[str, PatchFunction] = MappingProxyType(
    {
        "application/strategic-merge-patch+json": apply_strategic_merge_patch,
        "application/merge-patch+json": apply_merge_patch,
        "application/json-patch+json": apply_json_patch,
        "application/apply-patch+yaml": apply_merge_patch,
    }
)


def _decode(content_type: str, body: str | bytes) -> Any:
    try:
        if content_type.endswith("yaml"):
            return yaml.safe_load(body)
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise PatchError(
            f"patch body is not valid {content_type.rsplit('+', 1)[-1]}: {exc}"
        ) from exc


def apply_patch(content_type: str, original: JSONObject, body: Any) -> JSONObject:
    """Apply ``body`` as the patch kind named by ``content_type`` (parameters are ignored).

    ``body`` is the decoded document, or the raw text/bytes, which are decoded here.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    apply = PATCH_CONTENT_TYPES.get(media_type)
    if apply is None:
        supported = ", ".join(PATCH_CONTENT_TYPES)
        raise PatchError(f"unsupported patch content type {content_type!r}; use one of {supported}")
    if isinstance(body, str | bytes):
        body = _decode(media_type, body)
    return apply(original, body)
