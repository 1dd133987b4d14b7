"""The govflow demo: four real scikit-learn models (three classifiers and a regressor) scoring
synthetic credit applicants, with prediction logs that stage the seed 004 section 10
incident examples day by day.

``write_demo(data_dir)`` writes everything; ``DemoManifest.load(data_dir)`` reads back what
it wrote (models, versions, artifact hashes, validation metrics, scenario days).
"""

from govflow.demo.logs import MANIFEST_PATH, DemoManifest, write_demo
from govflow.demo.scenarios import SCENARIOS, scenario_calendar

__all__ = ["MANIFEST_PATH", "SCENARIOS", "DemoManifest", "scenario_calendar", "write_demo"]
