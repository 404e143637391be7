"""Parsing the Prometheus text exposition format with ``prometheus_client``'s own parser.

:func:`parse_exposition` turns a ``/metrics`` body into :class:`Family` objects of
:class:`~telemetry.frame.Sample`; any parse failure becomes a
:class:`~controlplane.exceptions.TelemetryError` naming the source. :func:`is_counter` says which
samples are cumulative (counters, and histograms' and summaries' ``_bucket``/``_count``/``_sum``)
and so are turned into rates.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from controlplane.exceptions import TelemetryError

from .frame import Sample

__all__ = ["Family", "is_counter", "parse_exposition"]

_CUMULATIVE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}


@dataclass(frozen=True)
class Family:
    """One metric family: its name and type as the ``# TYPE`` line declares them, and samples."""

    name: str
    type: str
    samples: tuple[Sample, ...]


def parse_exposition(text: str, source: str = "exposition") -> list[Family]:
    """Every family of a text exposition; timestamps and exemplars are dropped.

    Raises :class:`TelemetryError` (``source``, ``"malformed exposition: ..."``) when the text
    does not parse, and (``"empty exposition"``) when it holds no sample at all.
    """
    try:
        families = [
            Family(
                family.name,
                family.type,
                tuple(Sample(s.name, s.labels, float(s.value)) for s in family.samples),
            )
            for family in text_string_to_metric_families(text)
        ]
    # the parser reports bad input with ValueError mostly, but a truncated line can surface as
    # an IndexError/KeyError/TypeError from its internals: all mean "malformed"
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise TelemetryError(source, f"malformed exposition: {exc or type(exc).__name__}") from exc
    if not any(family.samples for family in families):
        raise TelemetryError(source, "empty exposition")
    return families


def is_counter(family_type: str, sample_name: str) -> bool:
    """Whether a sample of a family of ``family_type`` is cumulative (``_created`` is not)."""
    return sample_name.endswith(_CUMULATIVE_SUFFIXES.get(family_type, ()))
