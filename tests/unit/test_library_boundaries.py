"""The library stays Airflow-free: every govflow module imports without loading airflow."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter: a test that already imported airflow must not hide one that does.
IMPORT_EVERY_MODULE = r"""
import importlib, pkgutil, sys
import govflow

names = [
    m.name
    for m in pkgutil.walk_packages(govflow.__path__, "govflow.")
    if not m.name.endswith("__main__") and ".migrations." not in m.name
]
for name in names:
    importlib.import_module(name)
print(len(names))
print(sorted(k for k in sys.modules if k == "airflow" or k.startswith("airflow.")))
"""


def test_importing_every_govflow_module_loads_no_airflow_module():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    count, airflow_modules = result.stdout.strip().splitlines()[-2:]
    assert int(count) > 60
    assert airflow_modules == "[]"
