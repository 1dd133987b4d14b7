"""The README's own-model guide as data: its printed blocks, and rows of the guide's
regressor (``customer_value``) that the demo generator never made, for the tests of
monitoring, deployment gates, rollouts and explanations of a model that is not the demo's."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from govflow.config import GovflowConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
README = ROOT / "README.md"
GUIDE = "## Monitor your own model"
REGRESSOR = "customer_value"


def guide_blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of README's guide, exactly as printed."""
    text = README.read_text()
    section = text[text.index(GUIDE) :]
    section = section[: section.index("\n## ", len(GUIDE))]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


REGRESSOR_ENTRY = guide_blocks("yaml")[1]


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
