"""`event_json` and `events_json` against the way `event_json` was first written (every
property of `to_graph`, one at a time), byte for byte as JSON: the same keys, in the same
order, with the same values, for every kind of event, zone and $select."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from shared.calendar.model import DateTimeTimeZone, Event, ResponseStatus
from shared.calendar.recurrence import zone
from shared.graph.representation import _known_zone, event_json, events_json
from tests.unit.graph.test_representation import PACIFIC, SUMMER, WINTER, all_day, pacific_series
from tests.unit.graph.test_representation import occurrence as occurrence_of
from tests.unit.use_cases import fakes


def former_local_datetime(value: DateTimeTimeZone, target: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(value.date_time.removesuffix("Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(value.time_zone))
    return moment.astimezone(target).replace(tzinfo=None)


def former_event_json(
    event: Event, *, zone_name: str | None, select: tuple[str, ...] | None
) -> dict[str, object]:
    target, label = ZoneInfo("UTC"), "UTC"
    if zone_name is not None and (known := _known_zone(zone_name)) is not None:
        target, label = known, zone_name
    is_master = event.type == "seriesMaster"
    graph = event.model_dump(by_alias=True, mode="json", exclude_none=True)
    del graph["sequence"]
    graph.pop("exceptions", None)
    graph.setdefault("recurrence", None)
    if event.response_status is None:
        response = "organizer" if event.is_organizer else "notResponded"
        graph["responseStatus"] = {"response": response, "time": ResponseStatus().time}
    body: dict[str, object] = {"@odata.etag": f'W/"{event.change_key}"', "id": event.id}
    for key, value in graph.items():
        if key == "id" or (key == "cancelledOccurrences" and not is_master):
            continue
        if key in ("start", "end"):
            stored = event.start if key == "start" else event.end
            if event.is_all_day:
                moment = datetime.combine(
                    former_local_datetime(stored, zone(stored.time_zone)).date(), time()
                )
            else:
                moment = former_local_datetime(stored, target)
            text = f"{moment.replace(microsecond=0).isoformat()}.{moment.microsecond:06d}0"
            body[key] = {"dateTime": text, "timeZone": label}
        else:
            body[key] = value
        if key == "end":
            body["originalStartTimeZone"] = event.start.time_zone
            body["originalEndTimeZone"] = event.end.time_zone
    if select is None:
        return body
    kept = {key: body[key] for key in body if key in ("@odata.etag", "id") or key in select}
    for name in select:
        if name not in kept and (name != "cancelledOccurrences" or is_master):
            kept[name] = None
    return kept


def events() -> list[Event]:
    master = pacific_series(
        exceptions=[
            {
                "originalDate": "2027-01-06",
                "subject": "Moved",
                "start": {"dateTime": "2027-01-06T11:00:00.0000000", "timeZone": PACIFIC},
                "end": {"dateTime": "2027-01-06T12:00:00.0000000", "timeZone": PACIFIC},
            }
        ]
    )
    answered = fakes.event().model_copy(
        update={"response_status": ResponseStatus(response="accepted"), "transaction_id": "t"}
    )
    fraction = fakes.event().model_copy(
        update={
            "start": DateTimeTimeZone(date_time="2027-01-04T09:00:00.25-08:00", time_zone="UTC"),
            "end": DateTimeTimeZone(date_time="2027-01-04T17:30:00.1234567Z", time_zone="UTC"),
        }
    )
    attendee_copy = fakes.event().model_copy(update={"is_organizer": False})
    return [
        fakes.event(),
        answered,
        fraction,
        attendee_copy,
        all_day(),
        all_day("Asia/Tokyo"),
        master,
        occurrence_of(master, WINTER),
        occurrence_of(master, SUMMER),
        occurrence_of(master, date(2027, 1, 6)),
    ]


@pytest.mark.parametrize(
    "zone_name",
    [None, "UTC", PACIFIC, "America/Los_Angeles", "Asia/Kolkata", "Mars/Olympus_Mons"],
)
@pytest.mark.parametrize(
    "select",
    [
        None,
        ("subject", "start"),
        ("end", "originalEndTimeZone", "cancelledOccurrences"),
        ("seriesMasterId", "recurrence", "responseStatus"),
    ],
)
def test_the_same_json_as_before(zone_name: str | None, select: tuple[str, ...] | None) -> None:
    listed = events()
    expected = [former_event_json(e, zone_name=zone_name, select=select) for e in listed]

    one_by_one = [event_json(e, zone_name=zone_name, select=select) for e in listed]
    together = events_json(listed, zone_name=zone_name, select=select)

    assert json.dumps(one_by_one) == json.dumps(expected)
    assert json.dumps(together) == json.dumps(expected)
    assert together == expected
