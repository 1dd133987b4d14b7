"""Issue 16 item 6: the gateway's counts per hour, kept equal to the sum of its minutes.

Model Health sums a day of every model's gateway counts; from ``serving_stats`` that is
1,440 rows a model, version and gateway, 288,000 rows at 200 models. ``serving_stat_hours``
holds the sum of each gateway's minute rows per model, version and hour, so a day is at
most 24 rows each (plus the minutes of the day's first, partial hour).

The sum holds at every commit because whatever changes minute rows passes the change
through ``add_to_hours`` in the same transaction: a gateway's flush
(``govflow.rollout.routing.record_serving_stats``) the difference it made to each minute,
retention the rows it purges, negated. An hour whose minute rows are all purged sums to
zero and is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from govflow.store.schema import SERVING_COUNT_COLUMNS, ServingStatHour

# (gateway instance, model, version, minute) and the change to each of its counts.
MinuteChange = tuple[str, str, str, datetime, Mapping[str, int]]


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def add_to_hours(session: Session, changes: Iterable[MinuteChange]) -> None:
    """Add each minute's change to its hour's row (created at zero when missing)."""
    totals: dict[tuple[str, str, str, datetime], dict[str, int]] = {}
    for instance, model_id, version, minute, change in changes:
        total = totals.setdefault(
            (instance, model_id, version, hour_of(minute)), dict.fromkeys(SERVING_COUNT_COLUMNS, 0)
        )
        for name, value in change.items():
            total[name] += value
    for (instance, model_id, version, hour), total in totals.items():
        key = (
            ServingStatHour.instance == instance,
            ServingStatHour.model_id == model_id,
            ServingStatHour.version == version,
            ServingStatHour.hour == hour,
        )
        changed = session.execute(
            update(ServingStatHour)
            .where(*key)
            .values({name: getattr(ServingStatHour, name) + total[name] for name in total})
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            # A minute row never summed into an hour (written around this module) has
            # nothing to take back from.
            if all(value >= 0 for value in total.values()):
                session.add(
                    ServingStatHour(
                        instance=instance, model_id=model_id, version=version, hour=hour, **total
                    )
                )
        elif any(value < 0 for value in total.values()):
            session.execute(
                delete(ServingStatHour).where(
                    *key, *(getattr(ServingStatHour, name) == 0 for name in SERVING_COUNT_COLUMNS)
                )
            )
    # Written now, so that a later change in this session updates the rows it added.
    session.flush()
