"""How often a regressor's error-drift verdicts fire on stable days, and on days whose MAE rose
(issue 14 item 4; seed 004 section 2.2's accuracy-drop bounds; shared/STATISTICS.md).

Run: ``python benchmarks/regressor_alarms.py [--days 200] [--rows 1500] [--seed 7]``.

Everything runs in this one process through ``analyse_window`` (model drift only), exactly as a
monitoring run calls it, for README's ``customer_value`` regressor: a baseline built from 4,000
validation rows, then ``--days`` independent days of ``--rows`` rows per case. The baseline is
drawn anew for each day, so the rates include the baseline's own sampling error. Two error
shapes: ``normal`` (label = prediction + N(0, 150)) and ``heavy`` (label = prediction x
lognormal(0, 0.25): errors scale with the amount, sd(|e|) about 1.3 x MAE). A case ``+x%``
scales every error by 1 + x, so the true MAE and RMSE rise by x. Prints, per shape and case,
the share of days judged CRITICAL, WARNING, INFO and INCONCLUSIVE on ``mae_increase``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from govflow.baselines.profile import build_profile
from govflow.config import load_config
from govflow.config.inventory import ModelEntry
from govflow.monitoring.analysis import analyse_window

ROOT = Path(__file__).resolve().parents[1]
GUIDE = "### A regression model"
CASES = {"stable": 0.0, "+5%": 0.05, "+10%": 0.10, "+20%": 0.20}
VERDICTS = ("CRITICAL", "WARNING", "INFO", "INCONCLUSIVE")


def guide_model() -> ModelEntry:
    """README's regressor, as the guide prints it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(GUIDE) :]
    block = section[
        section.index("```yaml\n") + 8 : section.index("```", section.index("```yaml") + 7)
    ]
    return ModelEntry.model_validate(yaml.safe_load(block)[0])


def day(
    rng: np.random.Generator, rows: int, start: datetime, shape: str, increase: float
) -> pd.DataFrame:
    tenure = rng.integers(1, 120, rows)
    spend = rng.gamma(3.0, 15.0, rows)
    predicted = np.clip(spend * (12 + tenure * 0.5), 0, 20000)
    if shape == "normal":
        error = rng.normal(0.0, 150.0, rows)
    else:
        error = predicted * (rng.lognormal(0.0, 0.25, rows) - 1)
    stamps = pd.date_range(start, periods=rows, freq="10s", tz="UTC")
    return pd.DataFrame(
        {
            "prediction_id": [f"{start:%Y%m%d}-{row}" for row in range(rows)],
            "model_version": "1",
            "scored_at": stamps,
            "tenure_months": tenure,
            "monthly_spend": spend,
            "plan": rng.choice(["basic", "plus", "family"], rows),
            "sex": rng.choice(["female", "male"], rows),
            "age_band": rng.choice(["18-34", "35-54", "55+"], rows),
            "prediction": predicted,
            "label": predicted + error * (1 + increase),
            "label_observed_at": stamps,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    model = guide_model()
    shipped = load_config(ROOT / "config")
    models = shipped.models.model_copy(update={"models": [*shipped.models.models, model]})
    config = shipped.model_copy(update={"models": models})
    rng = np.random.default_rng(options.seed)
    start = datetime(2024, 6, 3, tzinfo=UTC)
    print(f"mae_increase verdicts over {options.days} days of {options.rows} rows")
    print(f"{'shape':8} {'case':7} " + " ".join(f"{v:>12}" for v in VERDICTS))
    for shape in ("normal", "heavy"):
        for case, increase in CASES.items():
            verdicts: Counter[str] = Counter()
            for _ in range(options.days):
                validation = day(rng, 4000, start - timedelta(days=30), shape, 0.0)
                profile = build_profile(
                    model.id, "1", validation=validation, model=None, model_config=model
                )
                window = day(rng, options.rows, start, shape, increase)
                result = analyse_window(
                    model=model,
                    config=config,
                    baseline=profile,
                    baseline_version="benchmark",
                    current=window,
                    matured=window,
                    window_start=start,
                    window_end=start + timedelta(days=1),
                    checks=("model_drift",),
                    analysed_at=start + timedelta(days=2),
                )
                (finding,) = [f for f in result.findings if f.metric == "mae_increase"]
                verdicts[
                    "INCONCLUSIVE" if finding.status == "inconclusive" else finding.severity
                ] += 1
            shares = " ".join(f"{100 * verdicts[v] / options.days:11.1f}%" for v in VERDICTS)
            print(f"{shape:8} {case:7} {shares}", flush=True)


if __name__ == "__main__":
    main()
