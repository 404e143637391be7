"""The Numenta Anomaly Benchmark's scorer, as published (NAB 1.x ``sweeper.py``).

For each file, the first 15 % of the rows (at most 750) are a probation period and are not
scored. Each labelled window is worth ``tpWeight`` when detected, scaled by a sigmoid of how early
its *earliest* detection falls (``-(right - i + 1) / width``, -1 at the left edge, so a detection
on the first row earns the full weight); a window with no detection costs ``fnWeight``. A
detection outside every window costs ``fpWeight``, scaled by the same sigmoid of its distance
after the previous window (``(i - right) / (width - 1)``), and the full weight before any window.

Raw scores are summed over the whole corpus first and normalised once:
``100 * (S - S_null) / (S_perfect - S_null)``, where the null detector never fires
(``S_null = -fnWeight * windows``) and the perfect one detects every window on its first row
(``S_perfect = tpWeight * windows``). NAB's threshold "optimisation" sweeps every distinct
anomaly score over the corpus for each profile and keeps the best; :meth:`CorpusSweep.best`
does the same (ties go to the higher threshold, as in NAB's stable sort).

:func:`load_corpus` reads NAB's layout (``data/<category>/<file>.csv``,
``labels/combined_windows.json``, ``profiles.json``).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from controlplane.exceptions import ForecastError

__all__ = [
    "PROBATION_PERCENT",
    "PROFILE_NAMES",
    "CorpusSweep",
    "NabFile",
    "Profile",
    "ThresholdScore",
    "load_corpus",
    "load_profiles",
    "load_reference",
    "load_thresholds",
    "probation_length",
    "scaled_sigmoid",
]

PROBATION_PERCENT = 0.15
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


@dataclass(frozen=True)
class Profile:
    """One of NAB's cost matrices."""

    name: str
    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class NabFile:
    """One data file: its rows and its labelled windows as inclusive row ranges."""

    path: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ThresholdScore:
    """The corpus raw score at one threshold (a row is a detection when score >= threshold)."""

    threshold: float
    raw: float
    normalised: float
    detected_windows: int
    false_positives: int


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's ``2 * sigmoid(-5 x) - 1``, and -1 from ``x >= 3`` on."""
    x = np.asarray(position, dtype=float)
    return np.where(x >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)


def probation_length(rows: int, percent: float = PROBATION_PERCENT) -> float:
    """Rows ``i < probation_length(n)`` are not scored."""
    return min(math.floor(percent * rows), percent * 5000)


def _file_weights(
    rows: int, windows: Sequence[tuple[int, int]], profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's weighted sweep score and window number within the file (-1: outside)."""
    idx = np.arange(rows, dtype=float)
    weight = np.full(rows, -profile.fp)
    window = np.full(rows, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(np.array(-1.0)))
    for k, (left, right) in enumerate(windows):
        width = right - left + 1
        if width < 2:
            raise ForecastError(f"NAB windows need at least two rows, got {width}")
        inside = slice(left, right + 1)
        position = -(right - idx[inside] + 1) / width
        weight[inside] = scaled_sigmoid(position) * profile.tp / max_tp
        window[inside] = k
        end = windows[k + 1][0] if k + 1 < len(windows) else rows
        after = slice(right + 1, end)
        weight[after] = scaled_sigmoid((idx[after] - right) / (width - 1)) * profile.fp
    return weight, window


class CorpusSweep:
    """Every row of the corpus sorted by anomaly score, with the raw score at each threshold."""

    def __init__(
        self, files: Sequence[NabFile], scores: Mapping[str, np.ndarray], profile: Profile
    ) -> None:
        self.profile = profile
        self.windows = sum(len(f.windows) for f in files)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        offset = 0
        for f in files:
            s = np.asarray(scores[f.path], dtype=float)
            if s.shape != f.values.shape or not np.all(np.isfinite(s)):
                raise ForecastError(f"{f.path}: need one finite score per row")
            weight, window = _file_weights(len(s), f.windows, profile)
            keep = np.arange(len(s)) >= probation_length(len(s))
            window = np.where(window >= 0, window + offset, -1)
            offset += len(f.windows)
            parts.append((s[keep], weight[keep], window[keep]))
        score = np.concatenate([p[0] for p in parts])
        weight = np.concatenate([p[1] for p in parts])
        window = np.concatenate([p[2] for p in parts])
        order = np.argsort(-score, kind="stable")
        self._scores = score[order]
        self.null, self._totals, self._detected, self._fps = self._cumulate(
            weight[order], window[order]
        )
        """``null``: the raw score of a detector that never fires."""

    def _cumulate(
        self, weight: np.ndarray, window: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        outside = window < 0
        fps = np.cumsum(outside)
        fp_sum = np.cumsum(np.where(outside, weight, 0.0))
        inside = np.flatnonzero(~outside)
        win, w = window[inside], weight[inside]
        # Running maximum of the sweep score within each window, in sweep order: offsetting
        # each window by a multiple of 10 keeps one window's maximum out of the next one.
        by_window = np.argsort(win, kind="stable")
        shifted = w[by_window] + 10.0 * win[by_window]
        run_max = np.maximum.accumulate(shifted) - 10.0 * win[by_window]
        first = np.r_[True, win[by_window][1:] != win[by_window][:-1]]
        previous = np.where(first, -self.profile.fn, np.r_[0.0, run_max[:-1]])
        gain = np.zeros(len(weight))
        gain[inside[by_window]] = run_max - previous
        new = np.zeros(len(weight), dtype=np.int64)
        new[inside[by_window]] = first
        null = -self.profile.fn * int(first.sum())
        return null, null + fp_sum + np.cumsum(gain), np.cumsum(new), fps

    def _row(self, k: int, threshold: float) -> ThresholdScore:
        """The score with the first ``k`` sorted rows detected."""
        if k == 0:
            raw, detected, fps = self.null, 0, 0
        else:
            raw = float(self._totals[k - 1])
            detected, fps = int(self._detected[k - 1]), int(self._fps[k - 1])
        return ThresholdScore(threshold, raw, self.normalise(raw), detected, fps)

    def normalise(self, raw: float) -> float:
        """NAB's normalised score: 0 for the null detector, 100 for the perfect one."""
        perfect = self.profile.tp * self.windows
        return 100.0 * (raw - self.null) / (perfect - self.null)

    def at(self, threshold: float) -> ThresholdScore:
        """The score when every row scoring at least ``threshold`` is a detection."""
        k = int(np.searchsorted(-self._scores, -threshold, side="right"))
        return self._row(k, threshold)

    def best(self) -> ThresholdScore:
        """NAB's sweep: the best score over every distinct threshold (the highest on ties)."""
        s = self._scores
        ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.array([], int)
        totals = np.r_[self.null, self._totals[ends]]
        k = int(np.argmax(totals))
        if k == 0:
            top = float(s[0]) if len(s) else 0.0
            return self._row(0, max(1.1, float(np.nextafter(top, np.inf))))
        end = int(ends[k - 1])
        return self._row(end + 1, float(s[end]))


# --- loading NAB's files --------------------------------------------------------------------


def _read_csv(path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    stamps = np.array([r["timestamp"] for r in rows], dtype="datetime64[s]")
    return stamps, np.array([float(r[column]) for r in rows])


def _window_rows(stamps: np.ndarray, limits: Sequence[Sequence[str]], path: str) -> tuple:
    rows = []
    for start, end in limits:
        bounds = np.array([start, end], dtype="datetime64[s]")
        left, right = np.searchsorted(stamps, bounds)
        if right >= len(stamps) or stamps[left] != bounds[0] or stamps[right] != bounds[1]:
            raise ForecastError(f"{path}: window {start} .. {end} does not match its rows")
        rows.append((int(left), int(right)))
    return tuple(sorted(rows))


def load_corpus(root: Path) -> list[NabFile]:
    """Every file listed in ``labels/combined_windows.json`` under ``root``, sorted by path."""
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = []
    for path in sorted(windows):
        stamps, values = _read_csv(root / "data" / path, "value")
        files.append(NabFile(path, stamps, values, _window_rows(stamps, windows[path], path)))
    return files


def load_profiles(root: Path) -> dict[str, Profile]:
    """NAB's scoring profiles from ``root/profiles.json``."""
    raw = json.loads((root / "profiles.json").read_text())
    return {
        name: Profile(name, m["tpWeight"], m["fpWeight"], m["fnWeight"])
        for name, m in ((n, p["CostMatrix"]) for n, p in raw.items())
    }


def load_reference(root: Path, detector: str, files: Sequence[NabFile]) -> dict[str, np.ndarray]:
    """A published detector's anomaly scores (``reference/<detector>/...``) for ``files``."""
    out = {}
    for f in files:
        category, name = f.path.split("/")
        path = root / "reference" / detector / category / f"{detector}_{name}"
        stamps, scores = _read_csv(path, "anomaly_score")
        if not np.array_equal(stamps, f.timestamps):
            raise ForecastError(f"{path}: timestamps differ from the data file")
        out[f.path] = scores
    return out


def load_thresholds(root: Path) -> dict[str, dict[str, float]]:
    """The published thresholds per detector and profile (``reference/thresholds.json``)."""
    raw = json.loads((root / "reference" / "thresholds.json").read_text())
    return {d: {p: v["threshold"] for p, v in per.items()} for d, per in raw.items()}
