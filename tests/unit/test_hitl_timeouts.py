"""The response timeout of a request assigned at run time (govflow_airflow.hitl): a deadline
that started before the step (an incident's acknowledgement SLA) is kept, not restarted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govflow_airflow.hitl import LEAST_TIMEOUT, response_timeout

NOW = datetime(2025, 3, 17, 2, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("assignment", "timeout"),
    [
        ({"timeout_minutes": 15}, timedelta(minutes=15)),
        ({"timeout_minutes": None}, None),
        ({}, None),
        # Opened at 02:10 with a 15-minute SLA: 5 minutes are left at 02:20.
        ({"timeout_minutes": 15, "due_at": "2025-03-17T02:25:00+00:00"}, timedelta(minutes=5)),
        # Past due when the step starts: it times out at once (and escalates).
        ({"timeout_minutes": 15, "due_at": "2025-03-17T02:00:00+00:00"}, LEAST_TIMEOUT),
        ({"timeout_minutes": 15, "due_at": None}, timedelta(minutes=15)),
    ],
)
def test_a_request_times_out_at_its_deadline_or_after_its_minutes(assignment, timeout):
    assert response_timeout(assignment, NOW) == timeout
