"""How fast *any* rule can catch a change in a small group, for the stable days it alarms on:
the best case against which ``false_alarms.py``'s 40-rows-a-day cells are read (issue 17).

Run: ``python benchmarks/detection_bound.py [--chains 2000] [--sequences 20000] [--seed 7]
[--demo-dir DIR]``.

For each demo model and each change seed 004 calls CRITICAL in a group of 40 rows a day
(``di`` 0.65 and ``dp_drift`` 0.15 in ``gender=non_binary``, lowered exactly as
``false_alarms.py`` lowers it, from the same baseline), it runs the CUSUM chart built for
exactly that change: each day adds the log-likelihood ratio of the group's favourable count
under the changed rate against the baseline rate, the chart restarts at 0 when it falls
below, and it alarms above a height ``h``. For a known change from a known rate this chart
has the shortest worst-case delay of any rule alarming as rarely (Lorden 1971, Moustakides
1986), and it is given more than govflow has: both rates exactly (no baseline sample, no
other group's rate to estimate) and one group and one metric to watch (no correction for the
other groups, attributes and metrics of the model-day).

* **Stable days**: ``--chains`` charts run 500 days of 40 rows at the baseline rate; a day
  counts as a false alarm when the chart is above ``h`` (after 100 days of start-up), the
  same count as ``false_alarms.py``'s CRITICAL model-days.
* **Changed days**: ``--sequences`` charts run 30 stable days, then 7 changed days; detected
  when the chart is above ``h`` on one of them.

Printed per model and change: the detection within 7 days for the heights whose stable-day
alarm rates are 0.1 / 0.2 / 0.3 / 0.5 / 1 % (a chart whose daily steps take few values prints
a height once when two of those rates share it), and the lowest alarm rate at which the chart
reaches 95 %. Last line: ``detection_bound: <model> <change> alarm_pct_for_95=<x>`` for each,
joined by `` | ``. Pure numpy, a few seconds after the demo is seeded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import false_alarms
from govflow import settings
from govflow.config import GovflowConfig, load_config

GROUP_ROWS = 40
DAYS_TO_DETECT = 7
WARM_UP_DAYS = 30
NULL_DAYS = 500
NULL_START_UP = 100
TARGET_DETECTION = 0.95
ALARM_RATES = (0.001, 0.002, 0.003, 0.005, 0.01)
CHANGES = (
    false_alarms.Alternative("di", 0.65, GROUP_ROWS),
    false_alarms.Alternative("dp_drift", 0.15, GROUP_ROWS),
)


@dataclass(frozen=True)
class Chart:
    """The CUSUM chart of one group's daily favourable count, from ``stable`` to ``changed``."""

    stable: float
    changed: float

    def step(self, favourable: np.ndarray) -> np.ndarray:
        """Each day's log-likelihood ratio of the changed rate against the stable one."""
        return favourable * np.log(self.changed / self.stable) + (GROUP_ROWS - favourable) * (
            np.log((1 - self.changed) / (1 - self.stable))
        )

    def run(self, rates: list[float], chains: int, rng: np.random.Generator) -> np.ndarray:
        """The chart's height at the end of each day, one row per day, one column per chain."""
        height = np.zeros(chains)
        heights = np.empty((len(rates), chains))
        for day, rate in enumerate(rates):
            height = np.maximum(0.0, height + self.step(rng.binomial(GROUP_ROWS, rate, chains)))
            heights[day] = height
        return heights


@dataclass(frozen=True)
class Bound:
    """Stable-day alarm rate and 7-day detection of one chart, as functions of its height."""

    stable_heights: np.ndarray  # every stable day's height, sorted
    detection_heights: np.ndarray  # each sequence's highest height over its changed days, sorted

    def alarm_rate(self, height: float) -> float:
        above = len(self.stable_heights) - np.searchsorted(self.stable_heights, height, "right")
        return above / len(self.stable_heights)

    def detection(self, height: float) -> float:
        above = len(self.detection_heights) - np.searchsorted(
            self.detection_heights, height, "right"
        )
        return above / len(self.detection_heights)

    def height_for_alarm_rate(self, rate: float) -> float:
        """The lowest height whose stable-day alarm rate is at most ``rate``."""
        return float(np.quantile(self.stable_heights, 1 - rate, method="higher"))

    def alarm_rate_for_detection(self, detection: float) -> float:
        """The lowest stable-day alarm rate of a height that detects at least ``detection``."""
        index = int(np.floor((1 - detection) * len(self.detection_heights)))
        # The chart exceeds a height just below this sequence's peak on every sequence from it.
        height = float(np.nextafter(self.detection_heights[index], -np.inf))
        return self.alarm_rate(height)


def bound(chart: Chart, chains: int, sequences: int, rng: np.random.Generator) -> Bound:
    stable = chart.run([chart.stable] * NULL_DAYS, chains, rng)[NULL_START_UP:]
    changed = chart.run(
        [chart.stable] * WARM_UP_DAYS + [chart.changed] * DAYS_TO_DETECT, sequences, rng
    )[WARM_UP_DAYS:]
    return Bound(np.sort(stable.ravel()), np.sort(changed.max(axis=0)))


def chart_of(
    model: false_alarms.MonitoredModel, config: GovflowConfig, change: false_alarms.Alternative
) -> Chart:
    """The group's baseline rate and the rate ``false_alarms.py`` lowers it to."""
    injection = false_alarms.fairness_injection(model, config, change)
    stable = false_alarms.baseline_rates(model, config)[change.group]
    return Chart(stable=stable, changed=stable * (1 - injection.flip_probability))


def report(model_id: str, change: false_alarms.Alternative, chart: Chart, found: Bound) -> str:
    print(
        f"{model_id} {change.label}: rate {chart.stable:.3f} -> {chart.changed:.3f} "
        f"({GROUP_ROWS} rows a day)"
    )
    # On a chart whose daily steps take few values two rates can share an alarm rate (as
    # printed): the lowest height alarming that often is printed once.
    heights: dict[float, float] = {}
    for rate in ALARM_RATES:
        height = found.height_for_alarm_rate(rate)
        shown = round(100 * found.alarm_rate(height), 2)
        heights[shown] = min(height, heights.get(shown, height))
    for shown, height in heights.items():
        print(
            f"  stable days alarmed {shown:5.2f} %  (h {height:5.2f}): "
            f"detected within {DAYS_TO_DETECT} days {100 * found.detection(height):5.1f} %"
        )
    needed = 100 * found.alarm_rate_for_detection(TARGET_DETECTION)
    print(f"  {100 * TARGET_DETECTION:.0f} % within {DAYS_TO_DETECT} days needs {needed:.2f} %")
    return f"{model_id} {change.kind}_{change.target:.2f} alarm_pct_for_95={needed:.2f}"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2_000, help="stable charts of 500 days")
    parser.add_argument("--sequences", type=int, default=20_000, help="changed sequences")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--demo-dir", type=Path, default=None, help="an already seeded demo")
    args = parser.parse_args(argv)
    if args.chains < 1 or args.sequences < 1:
        parser.error("--chains and --sequences must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    config = load_config(settings.config_dir())
    with tempfile.TemporaryDirectory(prefix="govflow-detection-bound-") as temporary:
        if args.demo_dir is None:
            data_dir, db_url = false_alarms.seeded_demo(Path(temporary), config)
        else:
            data_dir, db_url = args.demo_dir, f"sqlite:///{args.demo_dir / 'govflow.db'}"
        models = false_alarms.load_models(
            data_dir, db_url, config, list(false_alarms.DEMO_MODEL_IDS)
        )
    rng = np.random.default_rng(args.seed)
    lines = []
    for model in models:
        for change in CHANGES:
            chart = chart_of(model, config, change)
            lines.append(
                report(model.id, change, chart, bound(chart, args.chains, args.sequences, rng))
            )
    print("detection_bound: " + " | ".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
