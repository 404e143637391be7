"""Load profiles: the requests per second arriving at an application's entry service.

A profile is a pure, deterministic function of the virtual time ``t`` (seconds since the simulation
start). Noise is not part of a profile; the cluster adds its own seeded noise on top.

Profiles are built directly (``FlashCrowd(base=100, peak=800, at_s=300, ...)``), from the
compact CLI syntax of :func:`parse_load_spec` (``flash:base=100,peak=800,at=300,rise=30,...``) or
from a YAML mapping with :func:`load_profile_from_mapping` (``{type: diurnal, trace: google}``).
Every profile's :meth:`~LoadProfile.describe` returns the CLI spec that rebuilds it (``Sum`` and
``Scaled`` excepted, which have no CLI form).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Protocol, runtime_checkable

from testbed.errors import TestbedError

__all__ = [
    "TRACES",
    "Constant",
    "Diurnal",
    "FlashCrowd",
    "LoadProfile",
    "LoadSpecError",
    "Ramp",
    "Scaled",
    "Step",
    "Sum",
    "load_profile_from_mapping",
    "load_trace",
    "parse_load_spec",
]


class LoadSpecError(TestbedError, ValueError):
    """A load profile or its spec is invalid; the message names the offending part."""


@runtime_checkable
class LoadProfile(Protocol):
    """Requests per second arriving at virtual time ``t``."""

    def rate(self, t: float) -> float:
        """Requests per second at ``t`` seconds after the simulation start; never negative."""
        ...

    def describe(self) -> str:
        """A short description (for the built-in profiles, the spec that rebuilds them)."""
        ...


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _check(name: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "positive" if positive else "non-negative"
        raise LoadSpecError(f"{name} must be a finite {need} number, got {value!r}")


@dataclass(frozen=True)
class Constant:
    rps: float

    def __post_init__(self) -> None:
        _check("rps", self.rps)

    def rate(self, t: float) -> float:
        return self.rps

    def describe(self) -> str:
        return f"constant:{_fmt(self.rps)}"


@dataclass(frozen=True)
class Step:
    """``base`` until ``at_s``, then ``to``."""

    base: float
    to: float
    at_s: float

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name))

    def rate(self, t: float) -> float:
        return self.base if t < self.at_s else self.to

    def describe(self) -> str:
        return f"step:base={_fmt(self.base)},to={_fmt(self.to)},at={_fmt(self.at_s)}"


@dataclass(frozen=True)
class FlashCrowd:
    """A sudden surge: ``base``, then from ``at_s`` a linear rise to ``peak`` over ``rise_s``,
    ``hold_s`` at the peak, and an exponential decay that reaches ``base`` ``decay_s`` later."""

    base: float
    peak: float
    at_s: float
    rise_s: float
    hold_s: float
    decay_s: float

    DECAY_RATE = 5.0  # e-foldings over decay_s: 99.3 % of the excess is gone before the snap

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name))

    def rate(self, t: float) -> float:
        since = t - self.at_s
        excess = self.peak - self.base
        if since < 0:
            return self.base
        if since < self.rise_s:
            return self.base + excess * since / self.rise_s
        since -= self.rise_s + self.hold_s
        if since < 0:
            return self.peak
        if since >= self.decay_s:
            return self.base
        k = self.DECAY_RATE
        left = (math.exp(-k * since / self.decay_s) - math.exp(-k)) / (1 - math.exp(-k))
        return self.base + excess * left

    def describe(self) -> str:
        return (
            f"flash:base={_fmt(self.base)},peak={_fmt(self.peak)},at={_fmt(self.at_s)},"
            f"rise={_fmt(self.rise_s)},hold={_fmt(self.hold_s)},decay={_fmt(self.decay_s)}"
        )


@dataclass(frozen=True)
class Ramp:
    """Linear from ``start`` at t=0 to ``end`` at ``duration_s``, then ``end`` for ever."""

    start: float
    end: float
    duration_s: float

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name))

    def rate(self, t: float) -> float:
        if t >= self.duration_s:
            return self.end
        if t <= 0:
            return self.start
        return self.start + (self.end - self.start) * t / self.duration_s

    def describe(self) -> str:
        return (
            f"ramp:start={_fmt(self.start)},end={_fmt(self.end)},duration={_fmt(self.duration_s)}"
        )


# --- Diurnal profiles replay a real data-centre trace ------------------------------------------

TRACES = {"alibaba": "alibaba2018_cpu_300s.csv", "google": "google2019_cpu_300s.csv"}
SAMPLES_PER_DAY = 288  # the traces are sampled every 300 s
SMOOTHING_WINDOW = 5  # centred moving average over 25 minutes of trace time


def _check_trace(trace: str) -> None:
    if trace not in TRACES:
        valid = ", ".join(sorted(TRACES))
        raise LoadSpecError(f"unknown trace {trace!r}; valid traces: {valid}")


@lru_cache(maxsize=8)
def load_trace(trace: str) -> tuple[float, ...]:
    """The raw CPU series of ``trace`` ("alibaba" or "google"), one value per 300 s."""
    _check_trace(trace)
    text = resources.files("testbed.data").joinpath(TRACES[trace]).read_text(encoding="utf-8")
    return tuple(float(row[0]) for row in list(csv.reader(io.StringIO(text)))[1:] if row)


@lru_cache(maxsize=8)
def _shape(trace: str) -> tuple[float, ...]:
    """The trace, smoothed (circularly, as it loops) and min-max scaled to [0, 1]."""
    raw = load_trace(trace)
    n, half = len(raw), SMOOTHING_WINDOW // 2
    smooth = [
        sum(raw[(i + d) % n] for d in range(-half, half + 1)) / SMOOTHING_WINDOW for i in range(n)
    ]
    lo, hi = min(smooth), max(smooth)
    return tuple((v - lo) / (hi - lo) for v in smooth)


@dataclass(frozen=True)
class Diurnal:
    """The whole of a real trace, replayed and looped, scaled to ``[low, high]`` requests/s.

    One trace day (288 samples of 300 s) lasts ``period_s`` of virtual time, so ``period_s=600``
    runs a day in ten minutes. Samples are interpolated linearly; after the last sample the trace
    starts again (the Alibaba trace is 7.8 days long, so its loops do not fall on day boundaries).
    ``phase_s`` is added to ``t`` (in virtual seconds): trace row 0 is taken as midnight, so a
    simulation that starts at 06:00 uses ``phase_s = 0.25 * period_s``.
    """

    trace: str = "alibaba"
    low: float = 40.0
    high: float = 240.0
    period_s: float = 86400.0
    phase_s: float = 0.0

    def __post_init__(self) -> None:
        _check_trace(self.trace)
        _check("low", self.low)
        _check("high", self.high)
        _check("period_s", self.period_s, positive=True)
        if self.high < self.low:
            raise LoadSpecError(f"high ({self.high!r}) must not be below low ({self.low!r})")
        if not math.isfinite(self.phase_s):
            raise LoadSpecError(f"phase_s must be a finite number, got {self.phase_s!r}")

    def rate(self, t: float) -> float:
        shape = _shape(self.trace)
        n = len(shape)
        position = ((t + self.phase_s) * SAMPLES_PER_DAY / self.period_s) % n
        i = int(position)
        frac = position - i
        a, b = shape[i % n], shape[(i + 1) % n]
        value = a + (b - a) * frac
        return self.low + (self.high - self.low) * min(max(value, 0.0), 1.0)

    def describe(self) -> str:
        spec = (
            f"diurnal:trace={self.trace},low={_fmt(self.low)},high={_fmt(self.high)},"
            f"period={_fmt(self.period_s)}"
        )
        return spec + (f",phase={_fmt(self.phase_s)}" if self.phase_s else "")


# --- Combinators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sum:
    """The sum of several profiles (a flash crowd on top of a diurnal curve)."""

    parts: tuple[LoadProfile, ...]

    def rate(self, t: float) -> float:
        return sum(part.rate(t) for part in self.parts)

    def describe(self) -> str:
        return " + ".join(part.describe() for part in self.parts)


@dataclass(frozen=True)
class Scaled:
    """A profile multiplied by a non-negative ``factor``."""

    profile: LoadProfile
    factor: float

    def __post_init__(self) -> None:
        _check("factor", self.factor)

    def rate(self, t: float) -> float:
        return self.profile.rate(t) * self.factor

    def describe(self) -> str:
        return f"{_fmt(self.factor)} * ({self.profile.describe()})"


# --- Specs ------------------------------------------------------------------------------------

_REQUIRED = object()

# type -> (class, {spec key: (dataclass field, default)}), keys in CLI order
_SPECS: dict[str, tuple[type, dict[str, tuple[str, object]]]] = {
    "constant": (Constant, {"rps": ("rps", _REQUIRED)}),
    "step": (
        Step,
        {"base": ("base", _REQUIRED), "to": ("to", _REQUIRED), "at": ("at_s", _REQUIRED)},
    ),
    "flash": (
        FlashCrowd,
        {
            "base": ("base", _REQUIRED),
            "peak": ("peak", _REQUIRED),
            "at": ("at_s", _REQUIRED),
            "rise": ("rise_s", _REQUIRED),
            "hold": ("hold_s", _REQUIRED),
            "decay": ("decay_s", _REQUIRED),
        },
    ),
    "ramp": (
        Ramp,
        {
            "start": ("start", _REQUIRED),
            "end": ("end", _REQUIRED),
            "duration": ("duration_s", _REQUIRED),
        },
    ),
    "diurnal": (
        Diurnal,
        {
            "trace": ("trace", "alibaba"),
            "low": ("low", 40.0),
            "high": ("high", 240.0),
            "period": ("period_s", 86400.0),
            "phase": ("phase_s", 0.0),
        },
    ),
}


def _number(kind: str, key: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise LoadSpecError(f"{kind}: {key} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise LoadSpecError(f"{kind}: {key} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or (value < 0 and key != "phase"):
        raise LoadSpecError(f"{kind}: {key} must be a finite non-negative number, got {raw!r}")
    return value


def _build(kind: str, params: Mapping[str, object]) -> LoadProfile:
    if kind not in _SPECS:
        raise LoadSpecError(f"unknown load type {kind!r}; valid types: {', '.join(sorted(_SPECS))}")
    cls, keys = _SPECS[kind]
    unknown = sorted(set(params) - set(keys))
    if unknown:
        raise LoadSpecError(f"{kind}: unknown key {unknown[0]!r}; valid keys: {', '.join(keys)}")
    missing = [
        key for key, (_, default) in keys.items() if default is _REQUIRED and key not in params
    ]
    if missing:
        raise LoadSpecError(f"{kind}: missing key {missing[0]!r}; required keys: {', '.join(keys)}")
    kwargs: dict[str, object] = {}
    for key, (field, default) in keys.items():
        raw = params.get(key, default)
        if key == "trace":
            kwargs[field] = str(raw).strip().lower()
        else:
            kwargs[field] = _number(kind, key, raw)
    try:
        profile: LoadProfile = cls(**kwargs)
    except LoadSpecError as exc:
        raise LoadSpecError(f"{kind}: {exc}") from None
    return profile


def parse_load_spec(text: str) -> LoadProfile:
    """Build a profile from ``type[:key=value,...]``, e.g. ``step:base=100,to=300,at=600``.

    ``constant:200`` is short for ``constant:rps=200``; ``diurnal`` alone uses its defaults
    (trace=alibaba, low=40, high=240, period=86400, phase=0).
    """
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    params: dict[str, object] = {}
    parts = [part.strip() for part in rest.split(",")] if rest.strip() else []
    if kind == "constant" and len(parts) == 1 and "=" not in parts[0]:
        parts = [f"rps={parts[0]}"]
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise LoadSpecError(f"{kind}: expected key=value, got {part!r} in {text!r}")
        if key in params:
            raise LoadSpecError(f"{kind}: key {key!r} given twice in {text!r}")
        params[key] = value.strip()
    return _build(kind, params)


def load_profile_from_mapping(data: Mapping[str, object]) -> LoadProfile:
    """Build a profile from a mapping such as ``{"type": "diurnal", "trace": "google", "low": 20}``.

    The keys are those of :func:`parse_load_spec`.
    """
    if not isinstance(data, Mapping):
        raise LoadSpecError(f"a load profile must be a mapping, got {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise LoadSpecError(
            f"a load profile needs a 'type' string; valid types: {', '.join(sorted(_SPECS))}"
        )
    params = {str(key).lower(): value for key, value in data.items() if key != "type"}
    return _build(kind.strip().lower(), params)
