"""A posted event: what is kept of a good body (the SDK's as kiota writes it, Graph's docs'
examples, annotations, ignored properties), and Graph's 400 for each bad one."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter
from msgraph.generated.models.attendee import Attendee as SdkAttendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone as SdkDateTime
from msgraph.generated.models.day_of_week import DayOfWeek
from msgraph.generated.models.email_address import EmailAddress as SdkEmailAddress
from msgraph.generated.models.event import Event as SdkEvent
from msgraph.generated.models.importance import Importance
from msgraph.generated.models.item_body import ItemBody as SdkItemBody
from msgraph.generated.models.location import Location as SdkLocation
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence as SdkRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern as SdkPattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange as SdkRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType

from shared.calendar.errors import GraphError
from shared.graph.new_event import MAX_ATTENDEES, parse_new_event
from shared.graph.representation import event_json
from tests.unit.use_cases import fakes

PACIFIC = "Pacific Standard Time"
NOT_ON_TYPE = (
    "The property '{}' does not exist on type 'microsoft.graph.{}'. Make sure to only use "
    "property names that are defined by the type or mark the type as open type."
)
CONVERT = "Cannot convert the value of property '{}' to the expected type '{}'."
LITERAL = "Cannot convert the literal '{}' to the expected type 'microsoft.graph.{}'."
ZONE = (
    "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{}'."
)
READ = "RequestBodyRead"
MIDNIGHT_ONLY = (
    "An all-day event's start and end must be at midnight (a dateTime with a time of 00:00:00)."
)
INVALID = "ErrorInvalidRequest"


def body(**changes: Any) -> dict[str, Any]:
    """A one-hour Pacific meeting with one attendee; `changes` replace or add properties."""
    return {
        "subject": "Plan the offsite",
        "start": {"dateTime": "2027-01-04T09:00:00", "timeZone": PACIFIC},
        "end": {"dateTime": "2027-01-04T10:00:00", "timeZone": PACIFIC},
        "attendees": [{"emailAddress": {"address": "alex@contoso.example", "name": "Alex"}}],
        **changes,
    }


def weekly(**range_changes: Any) -> dict[str, Any]:
    return {
        "pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
        "range": {"type": "noEnd", "startDate": "2027-01-04", **range_changes},
    }


def refusal(document: dict[str, Any]) -> tuple[int, str, str]:
    with pytest.raises(GraphError) as raised:
        parse_new_event(document)
    return raised.value.status, raised.value.code, raised.value.message


# Good bodies ---------------------------------------------------------------------------------


def test_a_meeting_is_kept_in_its_own_zone_in_graphs_form() -> None:
    new = parse_new_event(body(body={"contentType": "HTML", "content": "<p>Agenda</p>"}))
    assert new.subject == "Plan the offsite"
    assert new.start.model_dump() == {
        "date_time": "2027-01-04T09:00:00.0000000",
        "time_zone": PACIFIC,
    }
    assert new.end.date_time == "2027-01-04T10:00:00.0000000"
    assert (new.body.content_type, new.body.content) == ("html", "<p>Agenda</p>")
    assert [(a.type, a.email_address.address, a.email_address.name) for a in new.attendees] == [
        ("required", "alex@contoso.example", "Alex")
    ]
    assert new.attendees[0].status.response == "none"
    assert (new.recurrence, new.transaction_id, new.is_all_day) == (None, None, False)


def test_the_least_body_is_start_and_end_with_utc_by_default() -> None:
    new = parse_new_event(
        {"start": {"dateTime": "2027-01-04T09:00"}, "end": {"dateTime": "2027-01-04T09:30"}}
    )
    assert (new.start.time_zone, new.subject, new.attendees, new.location.display_name) == (
        "UTC",
        "",
        (),
        "",
    )
    assert (new.body.content_type, new.body.content) == ("text", "")


def test_what_the_official_sdk_serializes_is_accepted() -> None:
    event = SdkEvent(
        subject="Weekly sync",
        body=SdkItemBody(content_type=BodyType.Html, content="<b>hi</b>"),
        start=SdkDateTime(date_time="2027-01-04T09:00:00", time_zone=PACIFIC),
        end=SdkDateTime(date_time="2027-01-04T09:30:00", time_zone=PACIFIC),
        location=SdkLocation(display_name="Room 1"),
        attendees=[
            SdkAttendee(
                email_address=SdkEmailAddress(
                    address="megan@contoso.example",
                    name="Megan",
                    odata_type="#microsoft.graph.emailAddress",
                ),
                type=AttendeeType.Optional,
            )
        ],
        importance=Importance.High,
        allow_new_time_proposals=True,
        is_online_meeting=False,
        transaction_id="7E163156-7762-4BEB-A1C6-729EA81755A7",
        recurrence=SdkRecurrence(
            pattern=SdkPattern(
                type=RecurrencePatternType.Weekly, interval=1, days_of_week=[DayOfWeek.Monday]
            ),
            range=SdkRange(
                type=RecurrenceRangeType.EndDate,
                start_date=dt.date(2027, 1, 4),
                end_date=dt.date(2027, 6, 28),
            ),
        ),
    )
    writer = JsonSerializationWriter()
    writer.write_object_value(None, event)
    sent = json.loads(writer.get_serialized_content())
    assert sent["@odata.type"] == "#microsoft.graph.event"
    assert sent["attendees"][0]["@odata.type"] == "#microsoft.graph.attendee"

    new = parse_new_event(sent)
    assert new.attendees[0].type == "optional"
    assert new.location.display_name == "Room 1"
    assert new.transaction_id == "7E163156-7762-4BEB-A1C6-729EA81755A7"
    assert new.recurrence is not None
    assert new.recurrence.range.recurrence_time_zone == PACIFIC  # the start's, when not given
    assert new.recurrence.pattern.days_of_week == ("monday",)


def test_annotations_anywhere_and_unstored_properties_are_ignored() -> None:
    new = parse_new_event(
        body(
            **{
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/events/$entity",
                "attendees@odata.type": "#Collection(microsoft.graph.attendee)",
                "showAs": "busy",
                "importance": "high",
                "sensitivity": "private",
                "isReminderOn": True,
                "reminderMinutesBeforeStart": 15,
                "categories": ["Red category"],
                "isOnlineMeeting": True,
                "onlineMeetingProvider": "teamsForBusiness",
                "responseRequested": True,
                "hideAttendees": False,
                "isDraft": False,
                "attachments": [],
                "body": {"@odata.type": "#microsoft.graph.itemBody", "content": "x"},
                "location": {
                    "displayName": "Harry's Bar",
                    "locationType": "default",
                    "address": {"city": "Seattle"},
                    "uniqueId": "Harry's Bar",
                },
                "attendees": [
                    {
                        "@odata.type": "#microsoft.graph.attendee",
                        "status": {"response": "accepted"},
                        "emailAddress": {
                            "@odata.type": "#microsoft.graph.emailAddress",
                            "address": "a@contoso.example",
                        },
                    }
                ],
            }
        )
    )
    assert new.location.display_name == "Harry's Bar"
    assert new.attendees[0].status.response == "none"


def test_a_get_answer_can_be_posted_back() -> None:
    """Read-only properties (`id`, `iCalUId`, `organizer`, `@odata.etag`, …) are ignored."""
    answer = event_json(fakes.event(), zone_name=None, select=None)
    new = parse_new_event(json.loads(json.dumps(answer)))
    assert new.subject == fakes.event().subject
    assert len(new.attendees) == 2


def test_nulls_are_left_out() -> None:
    new = parse_new_event(
        body(subject=None, body=None, location=None, attendees=None, recurrence=None)
    )
    assert (new.subject, new.attendees, new.recurrence) == ("", (), None)


def test_the_first_of_locations_is_the_location_when_none_is_given() -> None:
    places = [{"displayName": "Room 1"}, {"displayName": "Room 2"}]
    assert parse_new_event(body(locations=places)).location.display_name == "Room 1"
    given = body(locations=places, location={"displayName": "Lobby"})
    assert parse_new_event(given).location.display_name == "Lobby"


def test_an_offset_names_an_instant_written_in_the_events_zone() -> None:
    new = parse_new_event(
        body(
            start={"dateTime": "2027-01-04T17:00:00Z", "timeZone": PACIFIC},
            end={"dateTime": "2027-01-04T18:30:00+00:00", "timeZone": PACIFIC},
        )
    )
    assert (new.start.date_time, new.end.date_time) == (
        "2027-01-04T09:00:00.0000000",
        "2027-01-04T10:30:00.0000000",
    )


def test_iana_zones_fractions_and_date_only_all_day_events() -> None:
    new = parse_new_event(
        body(
            start={"dateTime": "2027-01-04T09:00:00.1234567", "timeZone": "Europe/Paris"},
            end={"dateTime": "2027-01-04T09:00:00.1234567", "timeZone": "Europe/Paris"},
        )
    )
    assert new.start.date_time == "2027-01-04T09:00:00.1234560"
    day = parse_new_event(
        body(
            isAllDay=True,
            start={"dateTime": "2027-01-04", "timeZone": PACIFIC},
            end={"dateTime": "2027-01-06", "timeZone": PACIFIC},
        )
    )
    assert day.is_all_day
    assert day.end.date_time == "2027-01-06T00:00:00.0000000"


def test_enumerations_match_in_any_letter_case() -> None:
    recurrence = {
        "pattern": {
            "type": "RelativeMonthly",
            "daysOfWeek": ["Monday"],
            "index": "First",
            "firstDayOfWeek": "Sunday",
        },
        "range": {"type": "Numbered", "startDate": "2027-01-04", "numberOfOccurrences": 3},
    }
    new = parse_new_event(
        body(
            recurrence=recurrence,
            attendees=[{"type": "Resource", "emailAddress": {"address": "room@contoso.example"}}],
        )
    )
    assert new.recurrence is not None
    assert (new.recurrence.pattern.type, new.recurrence.range.type) == (
        "relativeMonthly",
        "numbered",
    )
    assert new.attendees[0].type == "resource"


def test_a_recurrence_zone_decides_the_ranges_first_day() -> None:
    """09:00 Pacific on the 4th is the 4th in Pacific time and the 4th in UTC too (17:00);
    23:00 Pacific on the 4th is the 5th in UTC."""
    late = body(
        start={"dateTime": "2027-01-04T23:00:00", "timeZone": PACIFIC},
        end={"dateTime": "2027-01-04T23:30:00", "timeZone": PACIFIC},
    )
    new = parse_new_event(
        {**late, "recurrence": weekly(startDate="2027-01-05", recurrenceTimeZone="UTC")}
    )
    assert new.recurrence is not None
    assert new.recurrence.range.start_date == dt.date(2027, 1, 5)
    assert refusal({**late, "recurrence": weekly(recurrenceTimeZone="UTC")})[0] == 400


def test_a_transaction_id_of_255_characters_is_kept_and_an_empty_one_is_none() -> None:
    assert parse_new_event(body(transactionId="t" * 255)).transaction_id == "t" * 255
    assert parse_new_event(body(transactionId="")).transaction_id is None


def test_five_hundred_attendees_are_accepted() -> None:
    many = [{"emailAddress": {"address": f"p{n}@contoso.example"}} for n in range(MAX_ATTENDEES)]
    assert len(parse_new_event(body(attendees=many)).attendees) == MAX_ATTENDEES


# Bad bodies ----------------------------------------------------------------------------------

START = {"dateTime": "2027-01-04T09:00:00", "timeZone": PACIFIC}
MIDNIGHT = {"dateTime": "2027-01-04T00:00:00", "timeZone": PACIFIC}
NEXT_MIDNIGHT = {"dateTime": "2027-01-05T00:00:00", "timeZone": PACIFIC}

BAD: list[tuple[str, dict[str, Any], tuple[int, str, str]]] = [
    # unknown properties, at every level
    ("unknown", body(colour="red"), (400, READ, NOT_ON_TYPE.format("colour", "event"))),
    ("snake case", body(is_all_day=True), (400, READ, NOT_ON_TYPE.format("is_all_day", "event"))),
    ("letter case", body(Subject="x"), (400, READ, NOT_ON_TYPE.format("Subject", "event"))),
    ("in body", body(body={"text": "x"}), (400, READ, NOT_ON_TYPE.format("text", "itemBody"))),
    (
        "in start",
        body(start={**START, "offset": 1}),
        (400, READ, NOT_ON_TYPE.format("offset", "dateTimeTimeZone")),
    ),
    (
        "in location",
        body(location={"name": "x"}),
        (400, READ, NOT_ON_TYPE.format("name", "location")),
    ),
    (
        "in attendee",
        body(attendees=[{"email": "a@b.example"}]),
        (400, READ, NOT_ON_TYPE.format("email", "attendee")),
    ),
    (
        "in emailAddress",
        body(attendees=[{"emailAddress": {"address": "a@b.example", "mail": "x"}}]),
        (400, READ, NOT_ON_TYPE.format("mail", "emailAddress")),
    ),
    (
        "in recurrence",
        body(recurrence={**weekly(), "x": 1}),
        (400, READ, NOT_ON_TYPE.format("x", "patternedRecurrence")),
    ),
    (
        "in pattern",
        body(recurrence={"pattern": {"type": "daily", "every": 2}, "range": weekly()["range"]}),
        (400, READ, NOT_ON_TYPE.format("every", "recurrencePattern")),
    ),
    (
        "in range",
        body(
            recurrence={"pattern": {"type": "daily"}, "range": {**weekly()["range"], "until": "x"}}
        ),
        (400, READ, NOT_ON_TYPE.format("until", "recurrenceRange")),
    ),
    # wrong JSON types
    ("subject number", body(subject=1), (400, READ, CONVERT.format("subject", "Edm.String"))),
    (
        "isAllDay string",
        body(isAllDay="true"),
        (400, READ, CONVERT.format("isAllDay", "Edm.Boolean")),
    ),
    ("isAllDay number", body(isAllDay=1), (400, READ, CONVERT.format("isAllDay", "Edm.Boolean"))),
    (
        "body string",
        body(body="hello"),
        (400, READ, CONVERT.format("body", "microsoft.graph.itemBody")),
    ),
    (
        "content number",
        body(body={"content": 3}),
        (400, READ, CONVERT.format("body.content", "Edm.String")),
    ),
    (
        "start string",
        body(start="2027-01-04T09:00:00"),
        (400, READ, CONVERT.format("start", "microsoft.graph.dateTimeTimeZone")),
    ),
    (
        "dateTime number",
        body(start={"dateTime": 20270104}),
        (400, READ, CONVERT.format("start.dateTime", "Edm.String")),
    ),
    (
        "timeZone list",
        body(end={"dateTime": "2027-01-04T10:00:00", "timeZone": []}),
        (400, READ, CONVERT.format("end.timeZone", "Edm.String")),
    ),
    (
        "location string",
        body(location="Room 1"),
        (400, READ, CONVERT.format("location", "microsoft.graph.location")),
    ),
    (
        "locations object",
        body(locations={"displayName": "x"}),
        (400, READ, CONVERT.format("locations", "Collection(microsoft.graph.location)")),
    ),
    (
        "attendees object",
        body(attendees={}),
        (400, READ, CONVERT.format("attendees", "Collection(microsoft.graph.attendee)")),
    ),
    (
        "attendee string",
        body(attendees=["a@b.example"]),
        (400, READ, CONVERT.format("attendees[0]", "microsoft.graph.attendee")),
    ),
    (
        "attendee null",
        body(attendees=[None]),
        (400, READ, CONVERT.format("attendees[0]", "microsoft.graph.attendee")),
    ),
    (
        "address number",
        body(attendees=[{"emailAddress": {"address": 7}}]),
        (400, READ, CONVERT.format("attendees[0].emailAddress.address", "Edm.String")),
    ),
    (
        "recurrence list",
        body(recurrence=[]),
        (400, READ, CONVERT.format("recurrence", "microsoft.graph.patternedRecurrence")),
    ),
    (
        "interval float",
        body(
            recurrence={"pattern": {"type": "daily", "interval": 1.5}, "range": weekly()["range"]}
        ),
        (400, READ, CONVERT.format("recurrence.pattern.interval", "Edm.Int32")),
    ),
    (
        "interval string",
        body(
            recurrence={"pattern": {"type": "daily", "interval": "2"}, "range": weekly()["range"]}
        ),
        (400, READ, CONVERT.format("recurrence.pattern.interval", "Edm.Int32")),
    ),
    (
        "day number",
        body(
            recurrence={
                "pattern": {"type": "weekly", "daysOfWeek": [1]},
                "range": weekly()["range"],
            }
        ),
        (
            400,
            READ,
            CONVERT.format("recurrence.pattern.daysOfWeek[0]", "microsoft.graph.dayOfWeek"),
        ),
    ),
    (
        "transactionId number",
        body(transactionId=5),
        (400, READ, CONVERT.format("transactionId", "Edm.String")),
    ),
    # enumerations
    (
        "contentType",
        body(body={"contentType": "markdown"}),
        (400, READ, LITERAL.format("markdown", "bodyType")),
    ),
    (
        "attendee type",
        body(attendees=[{"type": "boss", "emailAddress": {"address": "a@b.example"}}]),
        (400, READ, LITERAL.format("boss", "attendeeType")),
    ),
    (
        "pattern type",
        body(recurrence={"pattern": {"type": "hourly"}, "range": weekly()["range"]}),
        (400, READ, LITERAL.format("hourly", "recurrencePatternType")),
    ),
    (
        "range type",
        body(recurrence=weekly(type="forever")),
        (400, READ, LITERAL.format("forever", "recurrenceRangeType")),
    ),
    (
        "day name",
        body(
            recurrence={
                "pattern": {"type": "weekly", "daysOfWeek": ["mon"]},
                "range": weekly()["range"],
            }
        ),
        (400, READ, LITERAL.format("mon", "dayOfWeek")),
    ),
    (
        "index",
        body(
            recurrence={
                "pattern": {"type": "relativeMonthly", "daysOfWeek": ["monday"], "index": "fifth"},
                "range": weekly()["range"],
            }
        ),
        (400, READ, LITERAL.format("fifth", "weekIndex")),
    ),
    # required properties
    (
        "no start",
        {k: v for k, v in body().items() if k != "start"},
        (400, INVALID, "The property 'start' is required."),
    ),
    ("null end", body(end=None), (400, INVALID, "The property 'end' is required.")),
    (
        "no dateTime",
        body(start={"timeZone": PACIFIC}),
        (400, INVALID, "The property 'start.dateTime' is required."),
    ),
    (
        "no address",
        body(attendees=[{"emailAddress": {"name": "Alex"}}]),
        (400, INVALID, "The property 'attendees[0].emailAddress.address' is required."),
    ),
    (
        "no emailAddress",
        body(attendees=[{"type": "required"}]),
        (400, INVALID, "The property 'attendees[0].emailAddress' is required."),
    ),
    (
        "no pattern",
        body(recurrence={"range": weekly()["range"]}),
        (400, INVALID, "The property 'recurrence.pattern' is required."),
    ),
    (
        "no pattern type",
        body(recurrence={"pattern": {}, "range": weekly()["range"]}),
        (400, INVALID, "The property 'recurrence.pattern.type' is required."),
    ),
    (
        "no startDate",
        body(recurrence={"pattern": {"type": "daily"}, "range": {"type": "noEnd"}}),
        (400, INVALID, "The property 'recurrence.range.startDate' is required."),
    ),
    (
        "no endDate",
        body(recurrence=weekly(type="endDate")),
        (400, INVALID, "The property 'recurrence.range.endDate' is required."),
    ),
    # zones
    (
        "unknown zone",
        body(start={**START, "timeZone": "Mars Standard Time"}),
        (400, "TimeZoneNotSupportedException", ZONE.format("Mars Standard Time")),
    ),
    (
        "custom zone",
        body(end={"dateTime": "2027-01-04T10:00:00", "timeZone": "tzone://Microsoft/Custom"}),
        (400, "TimeZoneNotSupportedException", ZONE.format("tzone://Microsoft/Custom")),
    ),
    (
        "empty zone",
        body(start={**START, "timeZone": ""}),
        (400, "TimeZoneNotSupportedException", ZONE.format("")),
    ),
    (
        "zone folder",
        body(start={**START, "timeZone": "America"}),
        (400, "TimeZoneNotSupportedException", ZONE.format("America")),
    ),
    (
        "zone path",
        body(start={**START, "timeZone": "../../etc/passwd"}),
        (400, "TimeZoneNotSupportedException", ZONE.format("../../etc/passwd")),
    ),
    (
        "recurrence zone",
        body(recurrence=weekly(recurrenceTimeZone="Nowhere")),
        (400, "TimeZoneNotSupportedException", ZONE.format("Nowhere")),
    ),
    # times
    (
        "bad dateTime",
        body(start={**START, "dateTime": "next monday"}),
        (
            400,
            INVALID,
            "The value 'next monday' of property 'start.dateTime' is not a valid date and time.",
        ),
    ),
    (
        "before the calendar",
        body(start={**START, "dateTime": "1500-01-01T00:00:00"}),
        (400, INVALID, "The property 'start.dateTime' must lie between 1601-01-01 and 9999-12-30."),
    ),
    (
        "after the calendar",
        body(end={**START, "dateTime": "9999-12-31T10:00:00"}),
        (400, INVALID, "The property 'end.dateTime' must lie between 1601-01-01 and 9999-12-30."),
    ),
    (
        "end before start",
        body(end={**START, "dateTime": "2027-01-04T08:59:59"}),
        (
            400,
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The end date you entered occurs before the start date.",
        ),
    ),
    (
        "end before start across zones",
        body(end={"dateTime": "2027-01-04T16:00:00", "timeZone": "UTC"}),
        (
            400,
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The end date you entered occurs before the start date.",
        ),
    ),
    # all-day events
    (
        "all day not at midnight",
        body(isAllDay=True, start=START, end=NEXT_MIDNIGHT),
        (
            400,
            INVALID,
            MIDNIGHT_ONLY,
        ),
    ),
    (
        "all day ending not at midnight",
        body(
            isAllDay=True, start=MIDNIGHT, end={**NEXT_MIDNIGHT, "dateTime": "2027-01-05T12:00:00"}
        ),
        (
            400,
            INVALID,
            MIDNIGHT_ONLY,
        ),
    ),
    (
        "all day of no length",
        body(isAllDay=True, start=MIDNIGHT, end=MIDNIGHT),
        (400, INVALID, "An all-day event must end at least one day after it starts."),
    ),
    (
        "all day in two zones",
        body(
            isAllDay=True,
            start=MIDNIGHT,
            end={"dateTime": "2027-01-06T00:00:00", "timeZone": "UTC"},
        ),
        (400, INVALID, "An all-day event's start and end must be in the same time zone."),
    ),
    # attendees
    (
        "address without domain",
        body(attendees=[{"emailAddress": {"address": "alex"}}]),
        (
            400,
            INVALID,
            "The property 'attendees[0].emailAddress.address' is not a valid email address.",
        ),
    ),
    (
        "address with space",
        body(
            attendees=[
                {"emailAddress": {"address": "a@b.example"}},
                {"emailAddress": {"address": "alex w@contoso.example"}},
            ]
        ),
        (
            400,
            INVALID,
            "The property 'attendees[1].emailAddress.address' is not a valid email address.",
        ),
    ),
    (
        "address too long",
        body(attendees=[{"emailAddress": {"address": "a" * 250 + "@b.example"}}]),
        (
            400,
            INVALID,
            "The property 'attendees[0].emailAddress.address' is not a valid email address.",
        ),
    ),
    (
        "too many attendees",
        body(
            attendees=[
                {"emailAddress": {"address": f"p{n}@contoso.example"}}
                for n in range(MAX_ATTENDEES + 1)
            ]
        ),
        (400, INVALID, "An event can have at most 500 attendees."),
    ),
    # recurrence
    (
        "weekly without days",
        body(recurrence={"pattern": {"type": "weekly"}, "range": weekly()["range"]}),
        (
            400,
            INVALID,
            "The property 'recurrence.pattern' is invalid: a weekly pattern needs daysOfWeek.",
        ),
    ),
    (
        "interval zero",
        body(recurrence={"pattern": {"type": "daily", "interval": 0}, "range": weekly()["range"]}),
        (
            400,
            INVALID,
            "The property 'recurrence.pattern.interval' is invalid: "
            "Input should be greater than or equal to 1.",
        ),
    ),
    (
        "too many occurrences",
        body(recurrence=weekly(type="numbered", numberOfOccurrences=1000)),
        (
            400,
            INVALID,
            "The property 'recurrence.range.numberOfOccurrences' is invalid: "
            "Input should be less than or equal to 999.",
        ),
    ),
    (
        "no occurrences",
        body(recurrence=weekly(type="numbered")),
        (
            400,
            INVALID,
            "The property 'recurrence.range' is invalid: "
            "a numbered range needs numberOfOccurrences of at least 1.",
        ),
    ),
    (
        "ends before it starts",
        body(recurrence=weekly(type="endDate", endDate="2027-01-01")),
        (
            400,
            INVALID,
            "The property 'recurrence.range' is invalid: "
            "an endDate range needs an endDate on or after its startDate.",
        ),
    ),
    (
        "bad startDate",
        body(recurrence=weekly(startDate="soon")),
        (
            400,
            INVALID,
            "The value 'soon' of property 'recurrence.range.startDate' is not a valid date.",
        ),
    ),
    (
        "range on another day",
        body(recurrence=weekly(startDate="2027-01-11")),
        (
            400,
            INVALID,
            "The recurrence's range must start on the event's start date (2027-01-04), "
            "not 2027-01-11.",
        ),
    ),
    # the rest
    (
        "transactionId too long",
        body(transactionId="t" * 256),
        (400, INVALID, "The property 'transactionId' is longer than 255 characters."),
    ),
    (
        "attachments",
        body(attachments=[{"name": "a.txt"}]),
        (400, INVALID, "Creating an event with 'attachments' is not supported."),
    ),
    (
        "extensions",
        body(extensions=[{"extensionName": "x"}]),
        (400, INVALID, "Creating an event with 'extensions' is not supported."),
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), [(d, e) for _, d, e in BAD], ids=[n for n, _, _ in BAD]
)
def test_a_bad_body_is_graphs_400(document: dict[str, Any], expected: tuple[int, str, str]) -> None:
    assert refusal(document) == expected
