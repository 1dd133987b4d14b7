"""Headless Chromium for the browser tests and the dashboard benchmark: Debian's
/usr/bin/chromium (`apt-get install chromium`; .ci/run installs it), driven by Playwright,
no browser downloaded; and a login to the Airflow UI through SimpleAuthManager's form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
MISSING = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
VIEWPORT = {"width": 1400, "height": 1000}


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, as a container without a sandbox can run it."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
    )


def log_in(page: Any, base_url: str, user: str, password: str) -> None:
    """Sign ``page`` into the Airflow UI at ``base_url`` as ``user``."""
    page.goto(base_url + "/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")
