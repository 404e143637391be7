"""Evaluation scenarios: what runs, what goes wrong, and what the right outcome is.

A scenario is one YAML file (the standard suite ships in ``evaluation/scenarios/standard/``)::

    name: bad-release-hotel-steady
    app: hotel-reservation
    load: {type: steady, share: 0.5}          # or {type: diurnal, ...}, or any testbed profile
    noise: true                               # every kind of benign noise (or a NoiseConfig)
    faults:
      - fault: bad-release
        target: auto                          # or {service: geo}, or {choose: [{...}, {...}]}
        onset_s: {between: [120, 300]}        # after the episode starts; drawn per seed
        strength: null                        # the library's default; fixed or drawn
    time_allowed_s: 1500
    outcome:
      kind: mitigate                          # mitigate | nothing | undo_within |
      mitigations: [rollback]                 #   scale_before | escalate
      hold_s: 300
    operator: {approve: true, delay_s: 60}    # null: nobody answers, approvals expire

Values marked *drawn* take a fixed value, ``{choose: [...]}`` or ``{between: [lo, hi]}``;
:meth:`Scenario.draw` resolves them with a generator seeded by the scenario's name and the seed,
so an episode is the same every time it runs with that seed. ``target: auto`` is resolved when
the episode starts (among the targets the fault may strike in the running cluster), with the
same generator.

The ground truth (root cause, AIOpsLab-style label) is the injected faults' own unless
``truth`` states it. A scenario without faults is a **no-fault control** (right outcome:
``nothing``) or a capacity scenario whose load alone outgrows the application (right outcome:
``scale_before`` the breach, counted from the episode's start).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controlplane.exceptions import ConfigError
from testbed.app import load_app
from testbed.faults import FAULTS
from testbed.load import Constant, Diurnal, LoadProfile, load_profile_from_mapping
from testbed.noise import NoiseConfig

__all__ = [
    "SUITES",
    "DrawnFault",
    "DrawnScenario",
    "FaultSpec",
    "LoadSpec",
    "OperatorSpec",
    "OutcomeKind",
    "OutcomeSpec",
    "Scenario",
    "load_scenario",
    "load_suite",
]

SUITES = ("standard",)
OutcomeKind = Literal["mitigate", "nothing", "undo_within", "scale_before", "escalate"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_drawn(value: Any, what: str) -> Any:
    if isinstance(value, Mapping) and ("choose" in value or "between" in value):
        if set(value) - {"choose", "between"} or len(value) != 1:
            raise ValueError(f"{what}: use either 'choose' or 'between', alone")
        if "choose" in value:
            options = value["choose"]
            if not isinstance(options, list) or not options:
                raise ValueError(f"{what}: 'choose' needs a non-empty list")
        else:
            bounds = value["between"]
            if (
                not isinstance(bounds, list)
                or len(bounds) != 2
                or not all(isinstance(b, int | float) for b in bounds)
                or bounds[0] > bounds[1]
            ):
                raise ValueError(f"{what}: 'between' needs [low, high] numbers with low <= high")
    return value


def _draw(value: Any, rng: random.Random) -> Any:
    if isinstance(value, Mapping) and "choose" in value:
        return rng.choice(value["choose"])
    if isinstance(value, Mapping) and "between" in value:
        low, high = value["between"]
        return round(rng.uniform(low, high), 1)
    return value


class LoadSpec(_Spec):
    """The load: ``steady`` (a share of the application's peak), ``diurnal`` (the application's
    trace between two shares of its peak, a day lasting ``period_s``), or any other profile
    of the testbed (``flash``, ``ramp``, ``step``...) given with its own keys."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str = "steady"
    share: float = Field(0.5, gt=0, le=3)
    low_share: float = Field(0.25, gt=0, le=3)
    high_share: float = Field(0.6, gt=0, le=3)
    period_s: float = Field(86400.0, gt=0)
    phase: float = Field(0.3, ge=0, lt=1)
    """Where in the day the episode's warm-up starts (0: midnight)."""

    def profile(self, app: str) -> LoadProfile:
        spec = load_app(app)
        load = spec.load or {}
        peak = float(load.get("high") or load.get("rps") or 100.0)
        if self.type == "steady":
            return Constant(self.share * peak)
        if self.type == "diurnal":
            trace = str(load.get("trace") or "alibaba")
            return Diurnal(
                trace=trace,
                low=self.low_share * peak,
                high=self.high_share * peak,
                period_s=self.period_s,
                phase_s=self.phase * self.period_s,
            )
        return load_profile_from_mapping({"type": self.type, **(self.model_extra or {})})

    def key(self) -> str:
        return self.model_dump_json()


class FaultSpec(_Spec):
    fault: str
    target: Any = "auto"
    """``auto``, a target mapping (``{service: geo}``, ``{node: node-2}``, ``{}`` for the
    application), or ``{choose: [...]}`` of them."""
    onset_s: Any = Field(default_factory=lambda: {"between": [120, 300]})
    strength: Any = None
    """The library's default (``null``), a number, drawn, or ``auto``: sized to the target
    where the default would do nothing visible there (a CPU burn of the pod's whole limit, a
    leak that fills its memory in minutes...)."""
    duration_s: float | None = Field(None, gt=0)

    @field_validator("fault")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; the library has: {', '.join(FAULTS)}")
        return name

    @field_validator("target")
    @classmethod
    def _target(cls, value: Any) -> Any:
        value = _check_drawn(value, "target")
        options = value["choose"] if isinstance(value, Mapping) and "choose" in value else [value]
        for option in options:
            if option == "auto":
                continue
            if not isinstance(option, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in option.items()
            ):
                raise ValueError(f"a target is 'auto' or a mapping of strings, not {option!r}")
        return value

    @field_validator("onset_s", "strength")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value == "auto":
            return value
        value = _check_drawn(value, "value")
        options = value["choose"] if isinstance(value, Mapping) and "choose" in value else [value]
        if isinstance(value, Mapping) and "between" in value:
            options = value["between"]
        for option in options:
            if option is not None and (not isinstance(option, int | float) or option < 0):
                raise ValueError(f"expected a non-negative number, got {option!r}")
        return value


class OperatorSpec(_Spec):
    """A simulated operator: answers every request for approval after ``delay_s``."""

    approve: bool = True
    delay_s: float = Field(60.0, ge=0)


class OutcomeSpec(_Spec):
    kind: OutcomeKind
    mitigations: list[str] | None = None
    """Acceptable action kinds (``mitigate``; default: the faults' documented mitigations)."""
    within_s: float | None = Field(None, gt=0)
    """``undo_within``: every change undone this long after the fault ends."""
    breach_at_s: float | None = Field(None, gt=0)
    """``scale_before``: when the SLO would break with no action, after the onset."""
    hold_s: float = Field(300.0, ge=0)
    """SLOs restored must hold this long."""
    cost_bound: float = Field(1.6, ge=1)
    """Replica-hours at most this multiple of the starting replicas' over the episode."""

    @model_validator(mode="after")
    def _needs(self) -> OutcomeSpec:
        if self.kind == "undo_within" and self.within_s is None:
            raise ValueError("outcome undo_within needs within_s")
        if self.kind == "scale_before" and self.breach_at_s is None:
            raise ValueError("outcome scale_before needs breach_at_s")
        return self


class TruthSpec(_Spec):
    root_cause: dict[str, str]
    label: dict[str, str]


class SLOSpecIn(_Spec):
    service: str
    latency_quantile: float = Field(0.99, gt=0, lt=1)
    latency_ms: float | None = Field(500.0, gt=0)
    error_ratio: float | None = Field(0.01, ge=0, le=1)
    window_s: float = Field(300.0, gt=0)


class Scenario(_Spec):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    app: str
    load: LoadSpec = Field(default_factory=LoadSpec)
    noise: bool | NoiseConfig = True
    faults: list[FaultSpec] = Field(default_factory=list)
    slos: list[SLOSpecIn] | None = None
    """The SLOs the episode is judged by (default: the application file's)."""
    time_allowed_s: float = Field(1500.0, gt=0, le=6 * 3600)
    truth: TruthSpec | None = None
    outcome: OutcomeSpec
    operator: OperatorSpec | None = Field(default_factory=OperatorSpec)
    tags: list[str] = Field(default_factory=list)
    path: str | None = Field(None, exclude=True)

    @field_validator("app")
    @classmethod
    def _app(cls, name: str) -> str:
        try:
            load_app(name)
        except Exception as exc:  # the testbed says why (unknown file, bad YAML)
            raise ValueError(f"unknown application {name!r}: {exc}") from exc
        return name

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        try:
            self.load.profile(self.app)
        except ValueError as exc:  # the testbed's LoadSpecError names the bad key
            raise ValueError(f"load: {exc}") from exc
        if not self.faults and self.outcome.kind not in ("nothing", "scale_before"):
            raise ValueError(
                "a scenario without faults must expect 'nothing' (a control) or "
                f"'scale_before' (its load alone outgrows it), not {self.outcome.kind!r}"
            )
        if (
            self.faults
            and self.outcome.kind == "nothing"
            and not all(FAULTS[f.fault].self_healing for f in self.faults)
        ):
            raise ValueError("'nothing' is the right outcome only for self-healing faults")
        return self

    @property
    def control(self) -> bool:
        """A no-fault control: no fault, and nothing is the right outcome."""
        return not self.faults and self.outcome.kind == "nothing"

    def noise_config(self, seed: int) -> NoiseConfig | None:
        if self.noise is False:
            return None
        if self.noise is True:
            return NoiseConfig(
                deploys=True,
                log_lines=True,
                cron_spikes=True,
                maintenance=True,
                drift=True,
                seed=seed,
                deploy_every_s=3600,
                maintenance_every_s=2 * 3600,
            )
        return self.noise.model_copy(update={"seed": seed})

    def draw(self, seed: int) -> DrawnScenario:
        rng = random.Random(f"{self.name}/{seed}")
        faults = [
            DrawnFault(
                fault=f.fault,
                target=_draw(f.target, rng),
                onset_s=float(_draw(f.onset_s, rng)),
                strength=(
                    f.strength
                    if f.strength is None or f.strength == "auto"
                    else float(_draw(f.strength, rng))
                ),
                duration_s=f.duration_s,
            )
            for f in self.faults
        ]
        return DrawnScenario(self, seed, faults, random.Random(f"{self.name}/{seed}/targets"))


@dataclass
class DrawnFault:
    fault: str
    target: Any
    onset_s: float
    strength: float | str | None
    duration_s: float | None


@dataclass
class DrawnScenario:
    """A scenario with everything drawn for one seed (``auto`` targets: at the episode's start,
    with ``rng``)."""

    scenario: Scenario
    seed: int
    faults: list[DrawnFault]
    rng: random.Random


def load_scenario(path: str | Path) -> Scenario:
    """One scenario file, validated; a :class:`ConfigError` says what is wrong and where."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"scenario {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"scenario {path} must be a mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate({**data, "path": str(path)})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"scenario {path}: {problems}") from exc


def load_suite(name: str) -> list[Scenario]:
    """Every scenario of a shipped suite, by file name."""
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r} (shipped: {', '.join(SUITES)})")
    folder = resources.files("evaluation.scenarios").joinpath(name)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    scenarios = [load_scenario(Path(str(f))) for f in files]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ConfigError(f"suite {name}: scenario names repeat")
    return scenarios
