"""Quantities, selectors and patches of the testbed's Kubernetes API plumbing."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from testbed.errors import PatchError, QuantityError, SelectorError
from testbed.k8s.patch import (
    PATCH_CONTENT_TYPES,
    apply_json_patch,
    apply_merge_patch,
    apply_patch,
    apply_strategic_merge_patch,
    merge_patch_value,
)
from testbed.k8s.quantity import (
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    parse_quantity,
)
from testbed.k8s.selectors import (
    LabelSelector,
    label_selector_from_spec,
    node_selector_matches,
    node_selector_term_matches,
    parse_field_selector,
    parse_label_selector,
)

# ---------------------------------------------------------------------------------------------
# Quantities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("+2", 2.0),
        ("250m", 0.25),
        ("100n", 1e-7),
        ("3u", 3e-6),
        ("2k", 2000.0),
        ("1M", 1e6),
        ("1G", 1e9),
        ("1T", 1e12),
        ("1P", 1e15),
        ("2E", 2e18),
        ("1Ki", 1024.0),
        ("1.5Ki", 1536.0),
        ("256Mi", 268435456.0),
        ("1Gi", 2.0**30),
        ("1Ti", 2.0**40),
        ("1Pi", 2.0**50),
        ("1Ei", 2.0**60),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("5e-1", 0.5),
        ("12E+2", 1200.0),
        (" 100m ", 0.1),
        (3, 3.0),
        (0.75, 0.75),
    ],
)
def test_parse_quantity_valid(text: str | int | float, expected: float) -> None:
    assert parse_quantity(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "12Qx", "abc", "1.2.3", "Mi", "1 Mi", "1mi", "1KI", "1e", "e3", "1Ki2", "0x10"],
)
def test_parse_quantity_rejects_malformed_input_quoting_it(bad: str) -> None:
    with pytest.raises(QuantityError, match="invalid quantity") as info:
        parse_quantity(bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["-1", "-250m", "-1Gi", -1, -0.5])
def test_parse_quantity_rejects_negative_values(bad: str | float) -> None:
    with pytest.raises(QuantityError, match="negative"):
        parse_quantity(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, None, ["1"]])
def test_parse_quantity_rejects_non_quantities(bad: Any) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)


def test_quantity_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_cpu("twelve")


@pytest.mark.parametrize(
    ("text", "cores"),
    [("250m", 0.25), ("1", 1.0), ("1500m", 1.5), ("0.1", 0.1), (2, 2.0), ("100u", 0.0001)],
)
def test_parse_cpu(text: str | int, cores: float) -> None:
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("256Mi", 268435456),
        ("1Gi", 1073741824),
        ("1G", 1_000_000_000),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("0.1Ki", 103),  # 102.4 rounds up
        ("1.1Gi", 1181116007),  # 1181116006.4 rounds up, computed exactly
        ("1500m", 2),
        ("0", 0),
        (512, 512),
    ],
)
def test_parse_memory_rounds_up_to_whole_bytes(text: str | int, nbytes: int) -> None:
    result = parse_memory(text)
    assert result == nbytes
    assert isinstance(result, int)


@pytest.mark.parametrize(
    ("cores", "text"),
    [
        (0.25, "250m"),
        (1.0, "1"),
        (2, "2"),
        (1.5, "1500m"),
        (0.1 + 0.2, "300m"),  # float noise does not round up to 301m
        (0.0001, "1m"),  # sub-millicore rounds up
        (0.0, "0"),
        (0.9999999999, "1"),
    ],
)
def test_format_cpu(cores: float, text: str) -> None:
    assert format_cpu(cores) == text


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (268435456, "256Mi"),
        (1024, "1Ki"),
        (1536, "1536"),  # 1.5Ki is not exact
        (3 * 1024, "3Ki"),
        (2**30, "1Gi"),
        (3 * 2**40, "3Ti"),
        (2**60, "1Ei"),
        (1000, "1000"),
        (1, "1"),
        (0, "0"),
    ],
)
def test_format_memory_uses_largest_exact_binary_suffix(nbytes: int, text: str) -> None:
    assert format_memory(nbytes) == text


@pytest.mark.parametrize("nbytes", [0, 1, 1000, 1024, 268435456, 3 * 2**40 + 7])
def test_format_memory_round_trips(nbytes: int) -> None:
    assert parse_memory(format_memory(nbytes)) == nbytes


@pytest.mark.parametrize("millis", [0, 1, 250, 999, 1000, 1500, 4000])
def test_format_cpu_round_trips(millis: int) -> None:
    assert parse_cpu(format_cpu(millis / 1000)) == pytest.approx(millis / 1000)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_format_cpu_rejects_invalid(bad: float) -> None:
    with pytest.raises(QuantityError):
        format_cpu(bad)


def test_format_memory_rejects_negative() -> None:
    with pytest.raises(QuantityError):
        format_memory(-1)


# ---------------------------------------------------------------------------------------------
# Label selectors: the string form

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "version": "3"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the label
        ("missing!=", True),  # even against the empty value, unlike field selectors
        ("tier in (frontend, backend)", True),
        ("tier in (backend)", False),
        ("tier notin (backend)", True),
        ("tier notin (frontend,backend)", False),
        ("missing notin (x)", True),
        ("missing in (x)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("  app = web ,  env in(prod,staging) , !legacy  ", True),
        ("app=web,tier in (frontend),env notin (dev),version,!legacy", True),
        ("version>2", True),
        ("version<3", False),
        ("missing=", False),
        ("example.com/team", False),
    ],
)
def test_label_selector_string_matches(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_label_selector_empty_value_matches_empty_label() -> None:
    selector = parse_label_selector("flag=")
    assert selector.matches({"flag": ""})
    assert not selector.matches({"flag": "x"})
    assert not selector.matches({})


@pytest.mark.parametrize(
    ("text", "bad_part"),
    [
        ("app=web,", "end of selector"),
        (",app=web", "','"),
        ("app web", "'web'"),
        ("tier in frontend", "'frontend'"),
        ("tier in (a", "end of selector"),
        ("tier in ()", "')'"),
        ("tier in (a b)", "'b'"),
        ("!", "end of selector"),
        ("app=(x)", "'('"),
        ("app=web tier=x", "'tier'"),
        ("-bad=x", "'-bad'"),
        ("app=bad value!", "'value'"),
        ("app=" + "x" * 64, "invalid label value"),
        ("Bad_Prefix/key=x", "Bad_Prefix/key"),
        ("version>two", "'two'"),
    ],
)
def test_label_selector_string_errors_name_the_bad_part(text: str, bad_part: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert bad_part in str(info.value)


def test_empty_label_selector_is_empty_and_matches_everything() -> None:
    selector = parse_label_selector("   ")
    assert selector.empty
    assert selector.matches({})
    assert selector.matches(LABELS)
    assert not parse_label_selector("app").empty


def test_label_selector_str_round_trips() -> None:
    text = "app=web,tier in (a,b),env notin (dev),version,!legacy,x!=y"
    selector = parse_label_selector(text)
    assert parse_label_selector(str(selector)) == selector
    assert str(selector) == text


# ---------------------------------------------------------------------------------------------
# Label selectors: the object form


@pytest.mark.parametrize(
    ("spec", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
        ({"matchLabels": {"app": "web", "tier": "fe"}}, {"app": "web"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]},
            {"tier": "be"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]},
            {"tier": "fe"},
            False,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {}, True),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}],
            },
            {"app": "web", "tier": "fe"},
            False,
        ),
        ({"matchLabels": None, "matchExpressions": None}, {"a": "b"}, True),
    ],
)
def test_label_selector_from_spec(
    spec: dict[str, Any], labels: dict[str, str], expected: bool
) -> None:
    assert label_selector_from_spec(spec).matches(labels) is expected


def test_none_selector_matches_nothing_unless_asked() -> None:
    nothing = label_selector_from_spec(None)
    assert not nothing.matches({})
    assert not nothing.matches(LABELS)
    assert not nothing.empty
    everything = label_selector_from_spec(None, none_matches_all=True)
    assert everything.matches(LABELS)
    assert everything.empty
    assert label_selector_from_spec({}) == LabelSelector()


def test_label_selector_spec_and_string_forms_agree() -> None:
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
    }
    assert label_selector_from_spec(spec) == parse_label_selector("app=web,tier in (a,b)")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, "Equals"),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "'Gt'"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "not be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "not be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "empty"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "key"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, "values"),
        ({"matchExpressions": {"key": "a"}}, "matchExpressions"),
        ({"matchExpressions": ["a"]}, "matchExpressions[0]"),
        ({"matchLabels": ["a"]}, "matchLabels"),
        ({"matchLabels": {"a": 1}}, "matchLabels[a]"),
        ({"matchLabels": {"a b": "c"}}, "'a b'"),
    ],
)
def test_label_selector_spec_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_spec(spec)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------------
# Node selector terms

NODE_LABELS = {"kubernetes.io/hostname": "node-1", "zone": "a", "cores": "16"}


def _term(*expressions: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": key, "operator": op, "values": values} for key, op, values in expressions
        ]
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        (_term(("zone", "In", ["a", "b"])), True),
        (_term(("zone", "In", ["c"])), False),
        (_term(("zone", "NotIn", ["c"])), True),
        (_term(("zone", "NotIn", ["a"])), False),
        (_term(("zone", "Exists", [])), True),
        (_term(("gpu", "Exists", [])), False),
        (_term(("gpu", "DoesNotExist", [])), True),
        (_term(("cores", "Gt", ["8"])), True),
        (_term(("cores", "Gt", ["16"])), False),
        (_term(("cores", "Lt", ["32"])), True),
        (_term(("cores", "Lt", ["16"])), False),
        (_term(("zone", "Gt", ["1"])), False),  # non-integer label never matches Gt
        (_term(("gpu", "Lt", ["1"])), False),
        (_term(("zone", "In", ["a"]), ("cores", "Gt", ["32"])), False),  # ANDed
        (_term(("zone", "In", ["a"]), ("kubernetes.io/hostname", "In", ["node-1"])), True),
        ({}, False),  # an empty term matches no node
        ({"matchExpressions": []}, False),
    ],
)
def test_node_selector_term_matches(term: dict[str, Any], expected: bool) -> None:
    assert node_selector_term_matches(term, NODE_LABELS) is expected


def test_node_selector_term_match_fields() -> None:
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
    assert node_selector_term_matches(term, {}, fields={"metadata.name": "node-1"})
    assert not node_selector_term_matches(term, {}, fields={"metadata.name": "node-2"})
    assert not node_selector_term_matches(term, {})


def test_node_selector_terms_are_ored() -> None:
    selector = {"nodeSelectorTerms": [_term(("zone", "In", ["z"])), _term(("cores", "Gt", ["4"]))]}
    assert node_selector_matches(selector, NODE_LABELS)
    assert not node_selector_matches(
        {"nodeSelectorTerms": [_term(("zone", "In", ["z"]))]}, NODE_LABELS
    )


@pytest.mark.parametrize(
    ("term", "message"),
    [
        (_term(("zone", "Equals", ["a"])), "Equals"),
        (_term(("cores", "Gt", ["8", "9"])), "exactly one value"),
        (_term(("cores", "Lt", ["many"])), "integer"),
        (_term(("cores", "Gt", [])), "exactly one value"),
        (_term(("zone", "In", [])), "not be empty"),
        ({"matchExpressions": [{"key": "zone"}]}, "operator"),
    ],
)
def test_node_selector_term_errors(term: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        node_selector_term_matches(term, NODE_LABELS)


# ---------------------------------------------------------------------------------------------
# Field selectors

POD_FIELDS = {"metadata.name": "web-1", "spec.nodeName": "node-1", "status.phase": "Running"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("spec.nodeName=node-1", True),
        ("spec.nodeName==node-1", True),
        ("spec.nodeName=node-2", False),
        ("spec.nodeName!=node-2", True),
        ("status.phase!=Running", False),
        ("spec.nodeName=node-1,status.phase=Running", True),
        ("spec.nodeName=node-1,status.phase=Failed", False),
        (" spec.nodeName = node-1 , metadata.name != x ", True),
        ("spec.schedulerName=", True),  # absent field compares as ""
        ("spec.schedulerName!=", False),
        ("spec.schedulerName=default", False),
    ],
)
def test_field_selector_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(POD_FIELDS) is expected


def test_field_selector_lists_fields_used() -> None:
    selector = parse_field_selector("spec.nodeName=a,status.phase!=b,spec.nodeName!=c")
    assert selector.fields == ("spec.nodeName", "status.phase")
    assert parse_field_selector("").fields == ()
    assert parse_field_selector("").empty


def test_field_selector_escapes() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b,spec.x=c\=d")
    assert selector.fields == ("metadata.name", "spec.x")
    assert selector.matches({"metadata.name": "a,b", "spec.x": "c=d"})


@pytest.mark.parametrize("bad", ["spec.nodeName", "=x", "a=b,,c=d", "a=b,", "!=x", "a<b"])
def test_field_selector_errors_name_the_bad_part(bad: str) -> None:
    with pytest.raises(SelectorError, match="invalid field selector") as info:
        parse_field_selector(bad)
    assert repr(bad) in str(info.value)


# ---------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386, appendix A)


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(original: Any, patch: Any, expected: Any) -> None:
    assert merge_patch_value(original, patch) == expected
    if isinstance(original, dict) and isinstance(patch, dict):
        assert apply_merge_patch(original, patch) == expected


@pytest.mark.parametrize("patch", [["c"], None, "bar", 3])
def test_apply_merge_patch_requires_an_object(patch: Any) -> None:
    with pytest.raises(PatchError, match="JSON object"):
        apply_merge_patch({"a": 1}, patch)


def test_merge_patch_replaces_lists_on_a_deployment() -> None:
    deployment = _deployment()
    patched = apply_merge_patch(
        deployment, {"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "x"}]}}}}
    )
    assert patched["spec"]["replicas"] == 5
    assert patched["spec"]["template"]["spec"]["containers"] == [{"name": "x"}]
    assert patched["metadata"] == deployment["metadata"]


# ---------------------------------------------------------------------------------------------
# JSON patch (RFC 6902, appendix A)


@pytest.mark.parametrize(
    ("original", "ops", "expected"),
    [
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
            id="A.1 add object member",
        ),
        pytest.param(
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
            id="A.2 add array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "remove", "path": "/baz"}],
            {"foo": "bar"},
            id="A.3 remove object member",
        ),
        pytest.param(
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
            id="A.4 remove array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
            id="A.5 replace",
        ),
        pytest.param(
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            id="A.6 move value",
        ),
        pytest.param(
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
            id="A.7 move array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
            id="A.8 test success",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
            id="A.10 add nested member",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
            id="A.11 ignore unrecognized elements",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": 10}],
            {"/": 9, "~1": 10},
            id="A.14 escape ordering",
        ),
        pytest.param(
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
            id="A.16 add array value",
        ),
        pytest.param(
            {"a/b": 1, "m~n": 2},
            [
                {"op": "replace", "path": "/a~1b", "value": 3},
                {"op": "remove", "path": "/m~0n"},
            ],
            {"a/b": 3},
            id="escaped keys",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "a", "image": "a:1"}]}},
            [{"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/-"}],
            {"spec": {"containers": [{"name": "a", "image": "a:1"}] * 2}},
            id="copy to end",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "replace", "path": "", "value": {"b": 2}}],
            {"b": 2},
            id="replace the whole document",
        ),
        pytest.param(
            {"a": [1, 2, 3]},
            [
                {"op": "replace", "path": "/a/2", "value": 9},
                {"op": "add", "path": "/a/3", "value": 4},
            ],
            {"a": [1, 2, 9, 4]},
            id="replace and add at end index",
        ),
        pytest.param(
            {"a": {"b": 1}},
            [{"op": "move", "from": "/a", "path": "/a"}],
            {"a": {"b": 1}},
            id="move onto itself",
        ),
        pytest.param({"a": 1}, [], {"a": 1}, id="empty patch"),
    ],
)
def test_json_patch_rfc6902_examples(
    original: dict[str, Any], ops: list[Any], expected: dict[str, Any]
) -> None:
    assert apply_json_patch(original, ops) == expected


@pytest.mark.parametrize(
    ("original", "ops", "message", "field"),
    [
        pytest.param(
            {"baz": "qux"},
            [{"op": "test", "path": "/baz", "value": "bar"}],
            "test failed",
            "baz",
            id="A.9 test error",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz/bat", "value": "qux"}],
            "path not found",
            "baz",
            id="A.12 add to nonexistent target",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": "10"}],
            "test failed",
            "~1",
            id="A.15 strings are not numbers",
        ),
        pytest.param(
            {"a": True},
            [{"op": "test", "path": "/a", "value": 1}],
            "test failed",
            "a",
            id="true is not 1",
        ),
        pytest.param(
            {"spec": {}},
            [{"op": "replace", "path": "/spec/replicas", "value": 3}],
            "path not found",
            "spec.replicas",
            id="replace missing",
        ),
        pytest.param(
            {"spec": {}},
            [{"op": "remove", "path": "/spec/replicas"}],
            "path not found",
            "spec.replicas",
            id="remove missing",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "a"}]}},
            [{"op": "replace", "path": "/spec/containers/1/image", "value": "x"}],
            "out of range",
            "spec.containers[1]",
            id="index out of range",
        ),
        pytest.param(
            {"a": [1, 2]},
            [{"op": "add", "path": "/a/3", "value": 1}],
            "out of range",
            "a[3]",
            id="add past the end",
        ),
        pytest.param(
            {"a": [1, 2]},
            [{"op": "remove", "path": "/a/01"}],
            "out of range",
            "a[01]",
            id="leading zero index",
        ),
        pytest.param(
            {"a": [1]},
            [{"op": "remove", "path": "/a/-"}],
            "out of range",
            "a[-]",
            id="remove dash",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "add", "path": "/a/b", "value": 1}],
            "not a container",
            "a.b",
            id="add below a scalar",
        ),
        pytest.param(
            {"a": 1}, [{"op": "frobnicate", "path": "/a"}], "'frobnicate'", "a", id="bad op"
        ),
        pytest.param({"a": 1}, [{"path": "/a", "value": 2}], "missing 'op'", "a", id="no op"),
        pytest.param({"a": 1}, [{"op": "add", "value": 2}], "missing 'path'", None, id="no path"),
        pytest.param(
            {"spec": {}},
            [{"op": "add", "path": "/spec/replicas"}],
            "missing 'value'",
            "spec.replicas",
            id="no value",
        ),
        pytest.param(
            {"a": 1}, [{"op": "replace", "path": "/a"}], "missing 'value'", "a", id="no value 2"
        ),
        pytest.param({"a": 1}, [{"op": "move", "path": "/b"}], "missing 'from'", "b", id="no from"),
        pytest.param(
            {"a": {"b": {}}},
            [{"op": "move", "from": "/a", "path": "/a/b/c"}],
            "into itself",
            "a.b.c",
            id="move into own child",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "add", "path": "a", "value": 1}],
            "must start with '/'",
            None,
            id="ptr",
        ),
        pytest.param(
            {"a": 1}, [{"op": "add", "path": "/a~2", "value": 1}], "invalid escape", "a~2", id="~2"
        ),
        pytest.param(
            {"a": 1}, [{"op": "add", "path": 7, "value": 1}], "must be a string", None, id="int"
        ),
        pytest.param({"a": 1}, [{"op": "remove", "path": ""}], "whole document", None, id="root"),
        pytest.param({"a": 1}, ["remove /a"], "expected an object", None, id="op not object"),
        pytest.param(
            {"a": 1},
            [{"op": "replace", "path": "", "value": [1]}],
            "JSON object",
            None,
            id="result not object",
        ),
    ],
)
def test_json_patch_errors(
    original: dict[str, Any], ops: list[Any], message: str, field: str | None
) -> None:
    with pytest.raises(PatchError, match=re.escape(message)) as info:
        apply_json_patch(original, ops)
    assert info.value.field == field


@pytest.mark.parametrize("body", [{"op": "add", "path": "/a", "value": 1}, "x", None])
def test_json_patch_body_must_be_a_list(body: Any) -> None:
    with pytest.raises(PatchError, match="list of operations"):
        apply_json_patch({}, body)


def test_json_patch_is_atomic() -> None:
    original = {"spec": {"replicas": 1}}
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "test", "path": "/spec/replicas", "value": 1},
    ]
    with pytest.raises(PatchError):
        apply_json_patch(original, ops)
    assert original == {"spec": {"replicas": 1}}


def test_json_patch_error_message_names_operation() -> None:
    with pytest.raises(PatchError, match=r"operation 1 \(remove /nope\)"):
        apply_json_patch(
            {"a": 1}, [{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/nope"}]
        )


# ---------------------------------------------------------------------------------------------
# Strategic merge patch


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web"},
            "finalizers": ["a"],
            "ownerReferences": [{"uid": "u1", "kind": "X", "name": "x"}],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "web:1",
                            "env": [{"name": "MODE", "value": "fast"}],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "volumeMounts": [{"mountPath": "/data", "name": "data"}],
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                            "args": ["--a", "--b"],
                        },
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                },
            },
        },
    }


def _containers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def _container_patch(*containers: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


def test_smp_changes_one_container_image_by_name() -> None:
    original = _deployment()
    patched = apply_strategic_merge_patch(
        original, _container_patch({"name": "app", "image": "web:2"})
    )
    containers = _containers(patched)
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == [
        "app",
        "sidecar",
    ]
    assert containers["app"]["image"] == "web:2"
    assert containers["app"]["env"] == [{"name": "MODE", "value": "fast"}]
    assert containers["app"]["resources"]["requests"]["cpu"] == "250m"
    assert containers["sidecar"] == {"name": "sidecar", "image": "proxy:1"}


def test_smp_adds_an_env_var_and_merges_an_existing_one() -> None:
    patch = _container_patch(
        {
            "name": "app",
            "env": [{"name": "LEVEL", "value": "debug"}, {"name": "MODE", "value": "slow"}],
        }
    )
    env = _containers(apply_strategic_merge_patch(_deployment(), patch))["app"]["env"]
    assert env == [{"name": "MODE", "value": "slow"}, {"name": "LEVEL", "value": "debug"}]


def test_smp_deletes_a_container_with_patch_delete() -> None:
    patch = _container_patch({"$patch": "delete", "name": "sidecar"})
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert list(_containers(patched)) == ["app"]
    assert _containers(patched)["app"]["image"] == "web:1"


def test_smp_deleting_a_missing_element_is_a_no_op() -> None:
    patched = apply_strategic_merge_patch(
        _deployment(), _container_patch({"$patch": "delete", "name": "nope"})
    )
    assert list(_containers(patched)) == ["app", "sidecar"]


def test_smp_appends_a_new_container_without_directives_or_nulls() -> None:
    patch = _container_patch({"name": "new", "image": "n:1", "command": None})
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert list(_containers(patched)) == ["app", "sidecar", "new"]
    assert _containers(patched)["new"] == {"name": "new", "image": "n:1"}


def test_smp_sets_the_restarted_at_annotation() -> None:
    stamp = "2024-05-01T12:00:00Z"
    patch = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    patched = apply_strategic_merge_patch(_deployment(), patch)
    metadata = patched["spec"]["template"]["metadata"]
    assert metadata == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": stamp},
    }
    assert _containers(patched) == _containers(_deployment())


def test_smp_null_deletes_and_scalars_replace() -> None:
    patch = {
        "spec": {"replicas": 4, "selector": None},
        "metadata": {"labels": {"app": None, "x": "y"}},
    }
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert patched["spec"]["replicas"] == 4
    assert "selector" not in patched["spec"]
    assert patched["metadata"]["labels"] == {"x": "y"}


def test_smp_container_ports_merge_by_container_port() -> None:
    patch = _container_patch(
        {
            "name": "app",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090}],
        }
    )
    ports = _containers(apply_strategic_merge_patch(_deployment(), patch))["app"]["ports"]
    assert ports == [
        {"containerPort": 8080, "name": "http", "protocol": "TCP"},
        {"containerPort": 9090},
    ]


def test_smp_volume_mounts_merge_by_mount_path_and_lists_without_key_replace() -> None:
    patch = _container_patch(
        {"name": "app", "volumeMounts": [{"mountPath": "/data", "readOnly": True}], "args": ["--c"]}
    )
    app = _containers(apply_strategic_merge_patch(_deployment(), patch))["app"]
    assert app["volumeMounts"] == [{"mountPath": "/data", "name": "data", "readOnly": True}]
    assert app["args"] == ["--c"]


def test_smp_tolerations_have_no_merge_key_and_are_replaced() -> None:
    patch = {
        "spec": {"template": {"spec": {"tolerations": [{"key": "other", "operator": "Exists"}]}}}
    }
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert patched["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "other", "operator": "Exists"}
    ]


def test_smp_service_ports_merge_by_port() -> None:
    service = {
        "kind": "Service",
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}],
        },
    }
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9000}, {"port": 8081, "name": "admin"}]}}
    patched = apply_strategic_merge_patch(service, patch)
    assert patched["spec"]["ports"] == [
        {"port": 80, "targetPort": 9000},
        {"port": 443, "targetPort": 8443},
        {"port": 8081, "name": "admin"},
    ]
    assert patched["spec"]["selector"] == {"app": "web"}


def test_smp_node_unschedulable_and_taints_by_key() -> None:
    node = {
        "kind": "Node",
        "metadata": {"name": "n1"},
        "spec": {
            "taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "DiskPressure", "status": "False"},
            ]
        },
    }
    patch = {
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "b", "$patch": "delete"}, {"key": "c", "effect": "NoSchedule"}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletDown"}]},
    }
    patched = apply_strategic_merge_patch(node, patch)
    assert patched["spec"]["unschedulable"] is True
    assert patched["spec"]["taints"] == [
        {"key": "a", "effect": "NoSchedule"},
        {"key": "c", "effect": "NoSchedule"},
    ]
    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "False", "reason": "KubeletDown"},
        {"type": "DiskPressure", "status": "False"},
    ]


def test_smp_strips_set_element_order_directives() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [
                        {
                            "name": "app",
                            "image": "web:3",
                            "$setElementOrder/env": [{"name": "MODE"}],
                        }
                    ],
                }
            }
        }
    }
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert "$setElementOrder/containers" not in json.dumps(patched)
    assert "$setElementOrder/env" not in json.dumps(patched)
    assert _containers(patched)["app"]["image"] == "web:3"
    assert _containers(patched)["sidecar"]["image"] == "proxy:1"


def test_smp_patch_replace_directive_in_a_dict_replaces_it() -> None:
    patch = _container_patch(
        {"name": "app", "resources": {"$patch": "replace", "limits": {"cpu": "1"}}}
    )
    app = _containers(apply_strategic_merge_patch(_deployment(), patch))["app"]
    assert app["resources"] == {"limits": {"cpu": "1"}}


def test_smp_patch_replace_directive_in_a_list_replaces_it() -> None:
    patch = _container_patch({"$patch": "replace"}, {"name": "only", "image": "o:1"})
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert patched["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "o:1"}]


def test_smp_patch_delete_directive_in_a_dict_removes_it() -> None:
    patch = {"spec": {"selector": {"$patch": "delete"}}}
    assert "selector" not in apply_strategic_merge_patch(_deployment(), patch)["spec"]


def test_smp_retain_keys_clears_other_keys() -> None:
    original = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert apply_strategic_merge_patch(original, patch) == {
        "spec": {"strategy": {"type": "Recreate"}}
    }


def test_smp_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    patched = apply_strategic_merge_patch(
        _deployment(), {"metadata": {"finalizers": ["b", "a", "b"]}}
    )
    assert patched["metadata"]["finalizers"] == ["a", "b"]
    removed = apply_strategic_merge_patch(
        patched, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    )
    assert removed["metadata"]["finalizers"] == ["b"]


def test_smp_owner_references_merge_by_uid_and_volumes_by_name() -> None:
    patch = {
        "metadata": {
            "ownerReferences": [{"uid": "u1", "controller": True}, {"uid": "u2", "kind": "Y"}]
        },
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"name": "data", "emptyDir": None, "configMap": {"name": "c"}}]
                }
            }
        },
    }
    patched = apply_strategic_merge_patch(_deployment(), patch)
    assert patched["metadata"]["ownerReferences"] == [
        {"uid": "u1", "kind": "X", "name": "x", "controller": True},
        {"uid": "u2", "kind": "Y"},
    ]
    assert patched["spec"]["template"]["spec"]["volumes"] == [
        {"name": "data", "configMap": {"name": "c"}}
    ]


def test_smp_creates_missing_lists() -> None:
    pod = {"spec": {"containers": [{"name": "a"}]}}
    patch = {
        "spec": {
            "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}],
            "hostAliases": [{"ip": "1.2.3.4"}],
        }
    }
    assert apply_strategic_merge_patch(pod, patch) == {
        "spec": {
            "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}],
            "hostAliases": [{"ip": "1.2.3.4"}],
        }
    }


@pytest.mark.parametrize(
    ("patch", "message", "field"),
    [
        (["not", "an", "object"], "JSON object", None),
        (
            _container_patch({"image": "x"}),
            "missing merge key 'name'",
            "spec.template.spec.containers[0].name",
        ),
        (_container_patch("app"), "expected an object", "spec.template.spec.containers[0]"),
        ({"spec": {"selector": {"$patch": "explode"}}}, "explode", "spec.selector"),
        ({"spec": {"$unknown": 1}}, "unknown patch directive", "spec"),
        ({"spec": {"$setElementOrder/containers": "x"}}, "must be a list", "spec"),
        ({"spec": {"$retainKeys": "type"}}, "must be a list", "spec"),
    ],
)
def test_smp_errors(patch: Any, message: str, field: str | None) -> None:
    with pytest.raises(PatchError, match=re.escape(message)) as info:
        apply_strategic_merge_patch(_deployment(), patch)
    assert info.value.field == field


# ---------------------------------------------------------------------------------------------
# Dispatch by content type and immutability


@pytest.mark.parametrize(
    ("content_type", "body", "expected_containers"),
    [
        (
            "application/strategic-merge-patch+json",
            _container_patch({"name": "app", "image": "v2"}),
            2,
        ),
        ("application/merge-patch+json", _container_patch({"name": "app", "image": "v2"}), 1),
        ("application/apply-patch+yaml", _container_patch({"name": "app", "image": "v2"}), 1),
        (
            "application/json-patch+json",
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "v2"}],
            2,
        ),
        (
            "application/json-patch+json; charset=utf-8",
            json.dumps(
                [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "v2"}]
            ),
            2,
        ),
        (
            "Application/Strategic-Merge-Patch+JSON",
            json.dumps(_container_patch({"name": "app", "image": "v2"})).encode(),
            2,
        ),
        (
            "application/apply-patch+yaml",
            "spec:\n  template:\n    spec:\n      containers:\n"
            "      - name: app\n        image: v2\n",
            1,
        ),
    ],
)
def test_apply_patch_dispatches_on_content_type(
    content_type: str, body: Any, expected_containers: int
) -> None:
    patched = apply_patch(content_type, _deployment(), body)
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == "v2"
    assert len(containers) == expected_containers


def test_patch_content_types_cover_the_kubernetes_types() -> None:
    assert set(PATCH_CONTENT_TYPES) == {
        "application/strategic-merge-patch+json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
    }
    assert PATCH_CONTENT_TYPES["application/json-patch+json"] is apply_json_patch


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", "application/xml"])
def test_apply_patch_rejects_unknown_content_types(content_type: str) -> None:
    with pytest.raises(PatchError, match="unsupported patch content type"):
        apply_patch(content_type, {}, {})


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/merge-patch+json", "{not json"),
        ("application/json-patch+json", b"\xff"),
        ("application/apply-patch+yaml", "a: [unclosed"),
    ],
)
def test_apply_patch_rejects_undecodable_bodies(content_type: str, body: str | bytes) -> None:
    with pytest.raises(PatchError, match="not valid"):
        apply_patch(content_type, {}, body)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/strategic-merge-patch+json",
            _container_patch({"name": "app", "image": "x", "env": [{"name": "N"}]}),
        ),
        (
            "application/strategic-merge-patch+json",
            _container_patch({"$patch": "delete", "name": "app"}),
        ),
        (
            "application/strategic-merge-patch+json",
            {"metadata": {"finalizers": ["z"], "labels": None}},
        ),
        (
            "application/merge-patch+json",
            {"spec": {"template": {"metadata": {"labels": {"b": "c"}}}}},
        ),
        (
            "application/json-patch+json",
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/containers/0/env/-",
                    "value": {"name": "N"},
                },
                {"op": "move", "from": "/spec/selector", "path": "/metadata/selector"},
                {"op": "copy", "from": "/spec/template", "path": "/spec/copy"},
            ],
        ),
    ],
)
def test_patches_never_mutate_their_inputs(content_type: str, body: Any) -> None:
    original = _deployment()
    original_before = copy.deepcopy(original)
    body_before = copy.deepcopy(body)
    patched = apply_patch(content_type, original, body)
    assert original == original_before
    assert body == body_before
    assert patched != original
    # The result shares nothing mutable with the input or the patch.
    patched["spec"]["template"]["spec"]["containers"][0]["image"] = "mutated"
    patched["metadata"].setdefault("labels", {})["mutated"] = "yes"
    assert original == original_before
    assert body == body_before
