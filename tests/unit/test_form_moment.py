"""govflow.flows.form_moment: a form's date or time read as written, or refused in one line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from govflow.flows import A_DATE_TIME, A_DAY, Refused, form_moment


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2025-03-28", datetime(2025, 3, 28)),
        ("2025-03-28T06:30:00", datetime(2025, 3, 28, 6, 30)),
        ("2025-03-28T00:00:00+00:00", datetime(2025, 3, 28, tzinfo=UTC)),
        ("2025-03-28T00:00:00Z", datetime(2025, 3, 28, tzinfo=UTC)),
    ],
)
def test_a_date_or_iso_time_is_read_as_written_naive_when_it_names_no_zone(value, moment):
    read = form_moment(value, field="param from")
    assert (read, read.tzinfo) == (moment, moment.tzinfo)


@pytest.mark.parametrize(
    ("value", "field", "expected", "line"),
    [
        ("yesterday", "param from", A_DAY, "param from: 'yesterday' is not a date (YYYY-MM-DD)"),
        (
            "2025-13-40",
            "param window_start",
            A_DATE_TIME,
            "param window_start: '2025-13-40' is not a date and time "
            "(ISO 8601, e.g. 2025-03-28T00:00:00+00:00)",
        ),
        ("", "param to", A_DAY, "param to: '' is not a date (YYYY-MM-DD)"),
        (20250328, "param to", A_DAY, "param to: 20250328 is not a date (YYYY-MM-DD)"),
        (None, "param to", A_DAY, "param to: None is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_value_that_is_no_date_is_refused_in_one_line_naming_the_field_and_the_form(
    value, field, expected, line
):
    with pytest.raises(Refused) as refused:
        form_moment(value, field=field, expected=expected)
    assert str(refused.value) == line
