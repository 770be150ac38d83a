"""Intervals on the difference between two groups, so a report calls a change better or worse only
when the data can tell.

Three kinds of figure are compared between groups (two versions of a process, two periods):

* a mean of one value per engagement or per task (hours, rounds, cost): a percentile bootstrap of
  the difference of means while either group is small (resamples drawn from a fixed seed, so the
  same data always gives the same interval), Welch's normal interval once both are large enough
  for it to be as good;
* a share (deadlines kept, breach rate): Newcombe's hybrid score interval for the difference of
  two proportions (built from each side's Wilson interval; sound at 0 % and 100 % too);
* a median or 90th percentile of durations: the distribution-free standard error of each side's
  quantile from the order statistics around it (the binomial ranks of a 95 % interval), combined
  as a normal interval of the difference.

`minimum_sample` reads the smallest group the reports will judge from ``definitions/rates.toml``
(``[reports] minimum_sample``); below it they say "not enough engagements yet".
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
RESAMPLES = 2000  # bootstrap resamples of the difference of means
BOOTSTRAP_UP_TO = 200  # above this many values on both sides, Welch's interval is as good
SEED = 1849  # the bootstrap's fixed seed: the same data, the same interval
DEFAULT_MINIMUM_SAMPLE = 5


@dataclass(frozen=True)
class Interval:
    """A 95 % interval on a difference (B minus A)."""

    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of zero: the data show a change."""
        return self.low > 0 or self.high < 0


def minimum_sample(path: str | Path) -> int:
    """The smallest group a comparison judges: ``[reports] minimum_sample`` of the rate card
    file (default `DEFAULT_MINIMUM_SAMPLE`).

    Raises:
        ValueError: the setting is not a whole number of at least 1.
    """
    with open(path, "rb") as fh:
        section = tomllib.load(fh).get("reports") or {}
    value = section.get("minimum_sample", DEFAULT_MINIMUM_SAMPLE)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path}: [reports] minimum_sample must be a whole number of at least 1")
    return value


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _variance(values: Sequence[float]) -> float:
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0


def mean_difference(a: Sequence[float], b: Sequence[float]) -> Interval | None:
    """A 95 % interval on mean(b) - mean(a) (None: a side has no value).

    A percentile bootstrap while either side has at most `BOOTSTRAP_UP_TO` values, else
    Welch's normal interval.
    """
    if not a or not b:
        return None
    if len(a) <= BOOTSTRAP_UP_TO or len(b) <= BOOTSTRAP_UP_TO:
        rng = random.Random(SEED)
        na, nb = len(a), len(b)
        diffs = sorted(
            sum(rng.choices(b, k=nb)) / nb - sum(rng.choices(a, k=na)) / na for _ in range(RESAMPLES)
        )
        return Interval(diffs[int(0.025 * (RESAMPLES - 1))], diffs[math.ceil(0.975 * (RESAMPLES - 1))])
    delta = _mean(b) - _mean(a)
    error = math.sqrt(_variance(a) / len(a) + _variance(b) / len(b))
    return Interval(delta - Z95 * error, delta + Z95 * error)


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def share_difference(k_a: int, n_a: int, k_b: int, n_b: int) -> Interval | None:
    """A 95 % interval on k_b/n_b - k_a/n_a, Newcombe's hybrid score method (None: a side has
    no case)."""
    if not n_a or not n_b:
        return None
    pa, pb = k_a / n_a, k_b / n_b
    la, ua = _wilson(k_a, n_a)
    lb, ub = _wilson(k_b, n_b)
    delta = pb - pa
    return Interval(
        delta - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2),
        delta + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2),
    )


def _quantile_error(ordered: Sequence[float], share: float) -> float:
    """The standard error of the `share` quantile of sorted values, from the order statistics at
    the binomial ranks of its 95 % interval."""
    n = len(ordered)
    spread = Z95 * math.sqrt(n * share * (1 - share))
    low = max(0, math.floor(n * share - spread))
    high = min(n - 1, math.ceil(n * share + spread))
    return (ordered[high] - ordered[low]) / (2 * Z95)


def quantile_difference(a: Sequence[float], b: Sequence[float], share: float) -> Interval | None:
    """A 95 % interval on the difference of the `share` quantiles of b and a (None: a side has
    no value). `a` and `b` must be sorted."""
    if not a or not b:
        return None
    delta = _interpolate(b, share) - _interpolate(a, share)
    error = math.sqrt(_quantile_error(a, share) ** 2 + _quantile_error(b, share) ** 2)
    return Interval(delta - Z95 * error, delta + Z95 * error)


def _interpolate(ordered: Sequence[float], share: float) -> float:
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


__all__ = [
    "DEFAULT_MINIMUM_SAMPLE",
    "Interval",
    "mean_difference",
    "minimum_sample",
    "quantile_difference",
    "share_difference",
]
