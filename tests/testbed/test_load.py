from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from testbed.errors import TestbedError
from testbed.load import (
    Constant,
    Diurnal,
    FlashCrowd,
    LoadProfile,
    LoadSpecError,
    Ramp,
    Scaled,
    Step,
    Sum,
    load_profile_from_mapping,
    load_trace,
    parse_load_spec,
)

DAY = 86400.0


def _series(profile: LoadProfile, end: float, step: float) -> np.ndarray:
    return np.array([profile.rate(t) for t in np.arange(0.0, end, step)])


def _autocorrelation(x: np.ndarray, lag: int) -> float:
    a, b = x[:-lag] - x.mean(), x[lag:] - x.mean()
    return float(np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)))


# --- trace data ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("trace", "rows"), [("alibaba", 2243), ("google", 8064)])
def test_trace_files_load_with_expected_rows(trace: str, rows: int) -> None:
    values = load_trace(trace)
    assert len(values) == rows
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert load_trace(trace) is values  # cached


def test_trace_values_match_the_source() -> None:
    assert load_trace("alibaba")[:2] == (16.127, 18.4661)
    assert load_trace("google")[:2] == (0.4416, 0.4331)


def test_unknown_trace_is_rejected() -> None:
    with pytest.raises(LoadSpecError, match="alibaba, google"):
        load_trace("azure")


# --- simple profiles ----------------------------------------------------------------------------


def test_constant() -> None:
    profile = Constant(200)
    assert [profile.rate(t) for t in (0, 1e6)] == [200, 200]


def test_step() -> None:
    profile = Step(base=100, to=300, at_s=600)
    assert profile.rate(0) == 100
    assert profile.rate(599.9) == 100
    assert profile.rate(600) == 300
    assert profile.rate(1e6) == 300


def test_flash_crowd_shape() -> None:
    p = FlashCrowd(base=100, peak=800, at_s=300, rise_s=30, hold_s=120, decay_s=300)
    assert p.rate(0) == 100
    assert p.rate(300) == 100
    assert p.rate(315) == pytest.approx(450)
    assert p.rate(330) == 800
    assert p.rate(449) == 800
    decay = [p.rate(t) for t in range(450, 751, 10)]
    assert decay[0] == pytest.approx(800)
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert p.rate(450 + 60) < 800 - 0.5 * 700  # exponential: more than half gone after 1/5
    assert p.rate(750) == 100
    assert p.rate(1e6) == 100


def test_flash_crowd_with_zero_durations_jumps() -> None:
    p = FlashCrowd(base=10, peak=50, at_s=5, rise_s=0, hold_s=0, decay_s=0)
    assert [p.rate(t) for t in (4.9, 5, 5.1)] == [10, 10, 10]
    held = FlashCrowd(base=10, peak=50, at_s=5, rise_s=0, hold_s=1, decay_s=0)
    assert [held.rate(t) for t in (4.9, 5, 5.5, 6)] == [10, 50, 50, 10]


def test_ramp() -> None:
    p = Ramp(start=50, end=400, duration_s=3600)
    assert p.rate(0) == 50
    assert p.rate(1800) == pytest.approx(225)
    assert p.rate(3600) == 400
    assert p.rate(1e6) == 400
    assert Ramp(start=400, end=50, duration_s=100).rate(50) == pytest.approx(225)


def test_combinators() -> None:
    both = Sum((Constant(10), Step(base=0, to=5, at_s=1)))
    assert both.rate(0) == 10
    assert both.rate(2) == 15
    assert Scaled(both, 2).rate(2) == 30
    assert "constant:10" in Scaled(both, 2).describe()


@pytest.mark.parametrize(
    "profile",
    [
        Constant(200),
        Step(base=100, to=300, at_s=600),
        FlashCrowd(base=100, peak=800, at_s=300, rise_s=30, hold_s=120, decay_s=300),
        Ramp(start=50, end=400.5, duration_s=3600),
        Diurnal(),
        Diurnal(trace="google", low=20, high=300, period_s=600, phase_s=150),
        Sum((Constant(1), Diurnal())),
    ],
)
def test_profiles_satisfy_the_protocol_and_never_go_negative(profile: LoadProfile) -> None:
    assert isinstance(profile, LoadProfile)
    assert isinstance(profile.describe(), str)
    assert min(profile.rate(t) for t in np.arange(-100.0, 4 * DAY, 97.0)) >= 0


# --- diurnal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("trace", ["alibaba", "google"])
def test_diurnal_stays_within_bounds_and_reaches_them(trace: str) -> None:
    profile = Diurnal(trace=trace, low=20, high=300, period_s=600)
    n = len(load_trace(trace))
    x = _series(profile, n * 600 / 288, 600 / 288)  # every trace sample once
    assert x.min() == pytest.approx(20)
    assert x.max() == pytest.approx(300)
    assert ((x >= 20) & (x <= 300)).all()


@pytest.mark.parametrize(("trace", "days"), [("alibaba", 7), ("google", 27)])
def test_diurnal_has_a_daily_cycle(trace: str, days: int) -> None:
    x = _series(Diurnal(trace=trace, period_s=600), days * 600, 10.0)
    per_period = 60
    assert _autocorrelation(x, per_period) > _autocorrelation(x, per_period // 2) + 0.1
    assert _autocorrelation(x, per_period) > 0.3


def test_diurnal_replays_the_whole_trace_not_one_day() -> None:
    profile = Diurnal(period_s=600)
    first_day = _series(profile, 600, 10.0)
    second_day = np.array([profile.rate(600 + t) for t in np.arange(0.0, 600, 10.0)])
    assert not np.allclose(first_day, second_day)


def test_diurnal_is_deterministic() -> None:
    times = np.arange(0.0, 3 * DAY, 613.0)
    a = [Diurnal(trace="google").rate(t) for t in times]
    b = [Diurnal(trace="google").rate(t) for t in times]
    assert a == b


@pytest.mark.parametrize("trace", ["alibaba", "google"])
def test_diurnal_loops_at_the_end_of_the_trace(trace: str) -> None:
    profile = Diurnal(trace=trace)
    length = len(load_trace(trace)) * 300.0
    for t in (0.0, 1234.5, 50000.0):
        assert profile.rate(t + length) == pytest.approx(profile.rate(t))
        assert profile.rate(t + 3 * length) == pytest.approx(profile.rate(t))
    # the wrap from the last sample to the first is continuous (interpolated)
    assert profile.rate(length - 150) == pytest.approx(
        (profile.rate(length - 300) + profile.rate(length)) / 2
    )


def test_diurnal_interpolates_linearly_between_samples() -> None:
    profile = Diurnal()
    for i in (0, 17, 500):
        mid = profile.rate(i * 300 + 100)
        expected = profile.rate(i * 300) + (profile.rate(i * 300 + 300) - profile.rate(i * 300)) / 3
        assert mid == pytest.approx(expected)


@pytest.mark.parametrize("trace", ["alibaba", "google"])
def test_diurnal_period_compression(trace: str) -> None:
    real = Diurnal(trace=trace)
    fast = Diurnal(trace=trace, period_s=600)
    for t in np.arange(0.0, 9 * DAY, 7777.0):
        assert fast.rate(t * 600 / DAY) == pytest.approx(real.rate(t))


def test_diurnal_phase_shifts_time() -> None:
    shifted = Diurnal(period_s=600, phase_s=150)
    plain = Diurnal(period_s=600)
    for t in (0.0, 42.0, 1000.0):
        assert shifted.rate(t) == pytest.approx(plain.rate(t + 150))


# --- validation of direct construction ----------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Constant(-1),
        lambda: Constant(math.nan),
        lambda: Step(base=1, to=-2, at_s=0),
        lambda: FlashCrowd(base=1, peak=2, at_s=0, rise_s=-1, hold_s=0, decay_s=0),
        lambda: Ramp(start=1, end=2, duration_s=math.inf),
        lambda: Diurnal(trace="azure"),
        lambda: Diurnal(low=300, high=200),
        lambda: Diurnal(period_s=0),
        lambda: Diurnal(phase_s=math.nan),
        lambda: Scaled(Constant(1), -2),
    ],
)
def test_invalid_profiles_are_rejected(build: Callable[[], object]) -> None:
    with pytest.raises(LoadSpecError):
        build()


def test_load_spec_error_is_a_testbed_value_error() -> None:
    assert issubclass(LoadSpecError, TestbedError)
    assert issubclass(LoadSpecError, ValueError)


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("constant:200", Constant(200)),
        ("constant:rps=12.5", Constant(12.5)),
        (" Constant : 200 ", Constant(200)),
        ("step:base=100,to=300,at=600", Step(base=100, to=300, at_s=600)),
        ("step: at=600 , base=100, to=300", Step(base=100, to=300, at_s=600)),
        (
            "flash:base=100,peak=800,at=300,rise=30,hold=120,decay=300",
            FlashCrowd(base=100, peak=800, at_s=300, rise_s=30, hold_s=120, decay_s=300),
        ),
        ("ramp:start=50,end=400,duration=3600", Ramp(start=50, end=400, duration_s=3600)),
        ("diurnal", Diurnal(trace="alibaba", low=40, high=240, period_s=86400)),
        (
            "diurnal:trace=google,low=20,high=300,period=600",
            Diurnal(trace="google", low=20, high=300, period_s=600),
        ),
        ("diurnal:phase=-30", Diurnal(phase_s=-30)),
        ("diurnal:trace=Google", Diurnal(trace="google")),
    ],
)
def test_parse_load_spec(spec: str, expected: LoadProfile) -> None:
    assert parse_load_spec(spec) == expected


@pytest.mark.parametrize(
    "profile",
    [
        Constant(200),
        Constant(0.25),
        Step(base=100, to=300, at_s=600),
        FlashCrowd(base=100, peak=800, at_s=300, rise_s=30, hold_s=120, decay_s=300.5),
        Ramp(start=50, end=400, duration_s=3600),
        Diurnal(),
        Diurnal(trace="google", low=20, high=300, period_s=600, phase_s=150),
    ],
)
def test_describe_round_trips_through_the_parser(profile: LoadProfile) -> None:
    assert parse_load_spec(profile.describe()) == profile


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "unknown load type ''.*constant, diurnal, flash, ramp, step"),
        ("sine:amp=3", "unknown load type 'sine'.*constant, diurnal, flash, ramp, step"),
        ("step:base=100,to=300,at=600,when=5", "unknown key 'when'.*base, to, at"),
        ("step:base=100,to=300", "missing key 'at'.*base, to, at"),
        ("flash:base=100,peak=800,at=300,rise=30,hold=120", "missing key 'decay'"),
        ("step:base=100,to=abc,at=600", "to must be a number, got 'abc'"),
        ("step:base=100,to=,at=600", "to must be a number"),
        ("constant:-5", "rps must be a finite non-negative number, got '-5'"),
        ("ramp:start=50,end=400,duration=-1", "duration must be a finite non-negative"),
        ("constant:nan", "rps must be a finite"),
        ("constant:inf", "rps must be a finite"),
        ("step:base=100,300,at=600", "expected key=value, got '300'"),
        ("step:base=100,base=200,to=1,at=2", "key 'base' given twice"),
        ("diurnal:trace=azure", "unknown trace 'azure'; valid traces: alibaba, google"),
        ("diurnal:low=300,high=200", "high .* must not be below low"),
        ("diurnal:period=0", "period_s must be a finite positive number"),
    ],
)
def test_parse_load_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(LoadSpecError, match=message):
        parse_load_spec(spec)


def test_load_profile_from_mapping() -> None:
    data = {"type": "diurnal", "trace": "google", "low": 20, "high": 300}
    assert load_profile_from_mapping(data) == Diurnal(trace="google", low=20, high=300)
    assert load_profile_from_mapping({"type": "Step", "base": 1, "to": 2.5, "at": "3"}) == Step(
        base=1, to=2.5, at_s=3
    )
    assert load_profile_from_mapping({"type": "constant", "rps": 7}) == Constant(7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"trace": "google"}, "needs a 'type' string; valid types: constant, diurnal"),
        ({"type": 3}, "needs a 'type' string"),
        ({"type": "sine"}, "unknown load type 'sine'"),
        ({"type": "constant", "rps": 1, "extra": 2}, "unknown key 'extra'; valid keys: rps"),
        ({"type": "constant"}, "missing key 'rps'"),
        ({"type": "constant", "rps": True}, "rps must be a number, got True"),
        ({"type": "constant", "rps": None}, "rps must be a number, got None"),
        ({"type": "constant", "rps": [1]}, "rps must be a number"),
        ({"type": "constant", "rps": -1}, "rps must be a finite non-negative number, got -1"),
        ({"type": "diurnal", "trace": "azure"}, "unknown trace 'azure'"),
    ],
)
def test_load_profile_from_mapping_errors(data: Mapping[str, object], message: str) -> None:
    with pytest.raises(LoadSpecError, match=message):
        load_profile_from_mapping(data)


def test_load_profile_from_mapping_rejects_non_mappings() -> None:
    with pytest.raises(LoadSpecError, match="must be a mapping, got list"):
        load_profile_from_mapping(["constant"])  # type: ignore[arg-type]
