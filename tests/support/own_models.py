"""The README's own-model guide as data: its printed blocks, and rows of the guide's black-box
classifier (``tenancy_screening``) and regressor (``customer_value``) that the demo generator
never made, for the tests of monitoring, deployment gates, rollouts and explanations of a
model that is not the demo's."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from govflow.config import GovflowConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
README = ROOT / "README.md"
GUIDE = "## Monitor your own model"
REGRESSOR = "customer_value"
TENANCY = "tenancy_screening"


def guide_blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of README's guide, exactly as printed."""
    text = README.read_text()
    section = text[text.index(GUIDE) :]
    section = section[: section.index("\n## ", len(GUIDE))]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


TENANCY_ENTRY, REGRESSOR_ENTRY = guide_blocks("yaml")[:2]


def tenancy_rows(rng: np.random.Generator, rows: int, start: datetime) -> pd.DataFrame:
    """Applications the demo generator never made: rent, tenancies, kind, two groups, and a
    risk score (``score`` the probability of class 1, a default; prediction 1 declines)."""
    rent = rng.gamma(4.0, 300.0, rows)
    prior = rng.poisson(2.0, rows)
    score = 1 / (1 + np.exp(-(1.5 - rent / 1000 + 0.3 * prior + rng.normal(0, 0.5, rows))))
    return pd.DataFrame(
        {
            "prediction_id": [f"t{start:%Y%m%d}-{row}" for row in range(rows)],
            "model_version": "1",
            "scored_at": pd.date_range(start, periods=rows, freq="30s", tz="UTC"),
            "monthly_rent": rent,
            "prior_tenancies": prior,
            "tenancy_kind": rng.choice(["flat", "house", "room"], rows, p=[0.6, 0.3, 0.1]),
            "sex": rng.choice(["female", "male"], rows),
            "nationality": rng.choice(["domestic", "eu", "other"], rows, p=[0.7, 0.2, 0.1]),
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "label": (rng.random(rows) < score).astype(int),
            "label_observed_at": pd.date_range(start, periods=rows, freq="30s", tz="UTC"),
        }
    )


def customer_value_rows(
    rng: np.random.Generator, rows: int, start: datetime, *, noise: float = 150.0
) -> pd.DataFrame:
    """Subscribers the demo never made: tenure, spend and plan, two groups, and a lifetime
    value in euros (``prediction``) with the value later observed (``label``, off by a
    normal error of sd ``noise``); a larger ``noise`` is a model whose errors grew."""
    tenure = rng.integers(1, 120, rows)
    spend = rng.gamma(3.0, 15.0, rows)
    predicted = np.clip(spend * (12 + tenure * 0.5), 0, 20000)
    stamps = pd.date_range(start, periods=rows, freq="30s", tz="UTC")
    return pd.DataFrame(
        {
            "prediction_id": [f"v{start:%Y%m%d}-{row}" for row in range(rows)],
            "model_version": "1",
            "scored_at": stamps,
            "tenure_months": tenure,
            "monthly_spend": spend,
            "plan": rng.choice(["basic", "plus", "family"], rows, p=[0.5, 0.3, 0.2]),
            "sex": rng.choice(["female", "male"], rows),
            "age_band": rng.choice(["18-34", "35-54", "55+"], rows),
            "prediction": predicted,
            "label": np.maximum(0.0, predicted + rng.normal(0.0, noise, rows)),
            "label_observed_at": stamps,
        }
    )


def config_with_regressor(directory: Path, *, extra: str = "") -> GovflowConfig:
    """config/ copied into ``directory`` with the guide's regressor added (``extra`` lines
    appended to its entry, e.g. an error_ceiling), loaded."""
    shutil.copytree(CONFIG_DIR, directory)
    models = directory / "models.yaml"
    models.write_text(models.read_text() + REGRESSOR_ENTRY + extra)
    return load_config(directory)


def guide_workspace(directory: Path, monkeypatch: Any) -> np.random.Generator:
    """The reader's workspace in ``directory``: config/ copied with the guide's model added,
    its validation.csv (4,000 rows), and GOVFLOW_* pointing at a fresh store there. Returns
    the generator the rows came from, for more rows of the same stream (a day's logs)."""
    config = directory / "config"
    shutil.copytree(CONFIG_DIR, config)
    models = config / "models.yaml"
    models.write_text(models.read_text() + TENANCY_ENTRY)
    rng = np.random.default_rng(11)
    validation = tenancy_rows(rng, 4000, datetime(2024, 5, 1, tzinfo=UTC))
    validation.to_csv(directory / "validation.csv", index=False)
    monkeypatch.setenv("GOVFLOW_DB_URL", f"sqlite:///{directory / 'govflow.db'}")
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(directory))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config))
    return rng


def with_attributions(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Attributions as a serving side would log them: rent matters most, then prior
    tenancies, the kind of tenancy hardly at all (mean |value| about 0.48, 0.34, 0.04)."""
    return frame.assign(
        attribution__monthly_rent=-0.001 * (frame["monthly_rent"] - 1200),
        attribution__prior_tenancies=0.3 * (frame["prior_tenancies"] - 2),
        attribution__tenancy_kind=rng.normal(0, 0.05, len(frame)),
    )
