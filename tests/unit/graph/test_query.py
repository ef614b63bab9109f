"""OData query options of a list request: each option, each refusal, and the $filter compiler
checked by a property against a direct evaluation of the same expression tree."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calendar.errors import InvalidFilter, InvalidQueryOption, UnknownProperty
from shared.calendar.model import DateTimeTimeZone, Event
from shared.graph.filters import MAX_FILTER_DEPTH, EventFilter
from shared.graph.query import ListOptions, list_options, skiptoken
from tests.unit.use_cases import fakes


def meeting(
    *,
    subject: str = "Quarterly review",
    ical: str = "040000008200E00074C5B7101A82E008AAAA",
    start: str = "2027-01-04T09:00:00.0000000",
    end: str = "2027-01-04T10:00:00.0000000",
    tz: str = "Pacific Standard Time",
) -> Event:
    return fakes.event().model_copy(
        update={
            "subject": subject,
            "i_cal_u_id": ical,
            "start": DateTimeTimeZone(date_time=start, time_zone=tz),
            "end": DateTimeTimeZone(date_time=end, time_zone=tz),
        }
    )


def token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


# Options ------------------------------------------------------------------------------------


def test_no_options_give_graphs_defaults() -> None:
    assert list_options({}) == ListOptions(
        top=10, skip=0, select=None, descending=False, filter=None
    )


def test_parameters_without_a_dollar_are_left_to_the_route() -> None:
    options = list_options(
        {"startDateTime": "2027-01-01", "top": "5", "expand": "x", "filter": "nonsense"}
    )
    assert options == ListOptions()


def test_option_names_are_read_in_any_letter_case() -> None:
    options = list_options({"$TOP": "5", "$Skip": "3", "$ORDERBY": "start/dateTime desc"})
    assert (options.top, options.skip, options.descending) == (5, 3, True)


@pytest.mark.parametrize("value", ["1", "10", "1000", "0007"])
def test_top_takes_1_to_1000(value: str) -> None:
    assert list_options({"$top": value}).top == int(value)


@pytest.mark.parametrize(
    "value", ["0", "1001", "-1", "+5", " 5", "5 ", "1_0", "1e3", "abc", "", "٣", "99999999999"]
)
def test_top_outside_1_to_1000_or_not_an_integer_is_refused(value: str) -> None:
    with pytest.raises(InvalidQueryOption, match=r"\$top"):
        list_options({"$top": value})


@pytest.mark.parametrize("value", ["-1", "x", "", "1.5", "2147483648"])
def test_skip_must_be_a_non_negative_integer(value: str) -> None:
    with pytest.raises(InvalidQueryOption, match=r"\$skip"):
        list_options({"$skip": value})


def test_skiptoken_round_trips_and_adds_to_skip() -> None:
    assert list_options({"$skiptoken": skiptoken(20)}).skip == 20
    assert list_options({"$skip": "5", "$skiptoken": skiptoken(20)}).skip == 25
    assert list_options({"$skiptoken": skiptoken(0)}).skip == 0


def test_skiptoken_is_url_safe_and_opaque() -> None:
    made = skiptoken(123456)
    assert made.isascii()
    assert not set(made) & set("=+/")
    assert list_options({"$skiptoken": made + "=="}).skip == 123456  # padded is fine too


def test_skiptoken_refuses_a_negative_skip() -> None:
    with pytest.raises(ValueError, match="outside"):
        skiptoken(-1)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "!!!",
        "a b",
        "A",  # not a whole base64 quantum
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        base64.urlsafe_b64encode(b"not json").decode(),
        token([1]),
        token({"skip": -1}),
        token({"skip": "1"}),
        token({"skip": True}),
        token({"skip": 1.0}),
        token({"skip": 2**31}),
        token({"skip": 1, "top": 2}),
        token({}),
        "A" * 300,
    ],
)
def test_malformed_skiptoken_is_refused(value: str) -> None:
    with pytest.raises(InvalidQueryOption, match=r"^The \$skiptoken is not valid\.$"):
        list_options({"$skiptoken": value})


def test_select_gives_graphs_spelling_in_the_order_asked_once_each() -> None:
    options = list_options({"$select": " Subject,START , icaluid,subject,originalstarttimezone"})
    assert options.select == ("subject", "start", "iCalUId", "originalStartTimeZone")


def test_select_star_is_every_property() -> None:
    assert list_options({"$select": "*"}).select is None


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("subject,bodyPreview", "bodyPreview"),
        ("Subjekt", "Subjekt"),
        ("start/dateTime", "start/dateTime"),
        ("sequence", "sequence"),
        ("exceptions", "exceptions"),
        ("@odata.etag", "@odata.etag"),
    ],
)
def test_select_of_an_unknown_property_names_it_as_written(value: str, named: str) -> None:
    with pytest.raises(UnknownProperty) as refused:
        list_options({"$select": value})
    assert refused.value.message == (
        f"Could not find a property named '{named}' on type 'microsoft.graph.event'."
    )


@pytest.mark.parametrize("value", ["", "subject,", ",subject", "subject,,start", " "])
def test_select_with_an_empty_name_is_refused(value: str) -> None:
    with pytest.raises(InvalidQueryOption, match="empty property"):
        list_options({"$select": value})


@pytest.mark.parametrize(
    ("value", "descending"),
    [
        ("start/dateTime", False),
        ("start/dateTime asc", False),
        ("start/dateTime desc", True),
        ("  START/DATETIME   DESC ", True),
        ("start/datetime Asc", False),
    ],
)
def test_orderby_start_ascending_or_descending(value: str, descending: bool) -> None:
    assert list_options({"$orderby": value}).descending is descending


@pytest.mark.parametrize(
    "value",
    [
        "",
        "end/dateTime",
        "subject desc",
        "start/dateTime down",
        "start/dateTime desc,subject",
        "start/dateTime desc extra",
        "start",
    ],
)
def test_orderby_on_anything_but_start_is_refused(value: str) -> None:
    with pytest.raises(InvalidQueryOption) as refused:
        list_options({"$orderby": value})
    assert refused.value.message == "Only $orderby=start/dateTime (asc or desc) is supported."


@pytest.mark.parametrize(
    "name", ["$expand", "$count", "$search", "$format", "$levels", "$compute", "$nonsense", "$"]
)
def test_other_query_options_are_refused(name: str) -> None:
    with pytest.raises(InvalidQueryOption) as refused:
        list_options({name: "x"})
    assert refused.value.message == f"Query option '{name}' is not supported."


def test_unsupported_option_is_named_as_written() -> None:
    with pytest.raises(InvalidQueryOption, match=r"^Query option '\$Expand' is not supported\.$"):
        list_options({"$Expand": "attachments"})


@pytest.mark.parametrize(
    "params",
    [
        {"$top": "1", "$TOP": "2"},
        {"$filter": "subject eq 'a'", "$Filter": "subject eq 'a'"},
        {"$skiptoken": skiptoken(1), "$SkipToken": skiptoken(2)},
    ],
)
def test_an_option_given_twice_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidQueryOption, match="more than once"):
        list_options(params)


def test_filter_is_compiled() -> None:
    options = list_options({"$filter": "subject eq 'Quarterly review'"})
    assert options.filter == EventFilter("subject eq 'Quarterly review'")
    assert options.filter is not None
    assert options.filter.matches(meeting())


# $filter, by example --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subject eq 'Quarterly review'", True),
        ("subject eq 'QUARTERLY REVIEW'", True),  # case-insensitive, as Exchange compares
        ("subject eq 'Quarterly'", False),
        ("subject ne 'Quarterly'", True),
        ("Subject eq 'quarterly review'", True),  # property names in any case
        ("'Quarterly review' eq subject", True),
        ("iCalUId eq '040000008200E00074C5B7101A82E008AAAA'", True),
        ("iCalUId eq '040000008200e00074c5b7101a82e008aaaa'", False),  # exact
        ("icaluid ne 'other'", True),
        # 09:00 Pacific Standard Time on 2027-01-04 is 17:00Z, ends 18:00Z.
        ("start/dateTime eq '2027-01-04T17:00:00'", True),
        ("start/dateTime eq '2027-01-04T17:00:00.0000000'", True),
        ("start/dateTime eq '2027-01-04T17:00'", True),
        ("start/dateTime eq '2027-01-04T09:00:00-08:00'", True),
        ("start/dateTime eq 2027-01-04T17:00:00Z", True),
        ("start/dateTime eq 2027-01-04T18:00:00+01:00", True),
        ("start/dateTime eq '2027-01-04T09:00:00'", False),  # read as UTC
        ("start/dateTime ge '2027-01-04'", True),
        ("start/dateTime gt '2027-01-04T17:00Z'", False),
        ("start/dateTime lt '2027-01-04T17:00:01Z'", True),
        ("start/dateTime le '2027-01-04T17:00Z'", True),
        ("start/dateTime ne '2027-01-04T17:00Z'", False),
        ("'2027-01-04T17:30Z' gt start/dateTime", True),
        ("'2027-01-04T17:30Z' lt START/DATETIME", False),
        ("end/dateTime eq '2027-01-04T18:00:00Z'", True),
        ("end/dateTime gt '2027-01-04T18:00:00Z'", False),
        (
            "start/dateTime ge '2027-01-04T00:00' and end/dateTime le '2027-01-05T00:00'"
            " and subject eq 'quarterly review'",
            True,
        ),
        ("subject eq 'x' or iCalUId eq '040000008200E00074C5B7101A82E008AAAA'", True),
        ("not (subject eq 'x')", True),
        ("not not (subject eq 'x')", False),
        # `and` binds tighter than `or`: true or (false and false).
        ("subject ne 'x' or subject eq 'x' and subject eq 'y'", True),
        ("(subject ne 'x' or subject eq 'x') and subject eq 'y'", False),
        ("((subject eq 'quarterly review'))", True),
    ],
)
def test_filter_examples(text: str, expected: bool) -> None:
    assert EventFilter(text).matches(meeting()) is expected


def test_filter_string_literal_with_a_doubled_quote() -> None:
    assert EventFilter("subject eq 'let''s meet'").matches(meeting(subject="Let's meet"))


def test_filter_compares_a_stored_offset_in_utc() -> None:
    event = meeting(start="2027-07-05T09:00:00-07:00", tz="UTC")
    assert EventFilter("start/dateTime eq '2027-07-05T16:00Z'").matches(event)


def test_filter_compares_across_daylight_saving() -> None:
    summer = meeting(start="2027-07-05T09:00:00.0000000", end="2027-07-05T10:00:00.0000000")
    assert EventFilter("start/dateTime eq '2027-07-05T16:00'").matches(summer)
    assert not EventFilter("start/dateTime eq '2027-07-05T17:00'").matches(summer)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "subject",
        "subject eq",
        "subject eq 'x' and",
        "(subject eq 'x'",
        "subject eq 'x')",
        "subject eq 'unterminated",
        "subject === 'x'",
        "contains(subject,'x')",
        "startswith(subject,'Q')",
        "tolower(subject) eq 'x'",
        "attendees/any(a: a/emailAddress/address eq 'x@contoso.com')",
        "isAllDay eq true",
        "location/displayName eq 'x'",
        "start/timeZone eq 'UTC'",
        "organizer/emailAddress/address eq 'x'",
        "body eq 'x'",
        "event.subject eq 'x'",
        "subject eq 1",
        "subject eq null",
        "subject eq 2027-01-04T17:00:00Z",
        "subject lt 'x'",
        "subject gt 'x'",
        "iCalUId ge 'x'",
        "subject in ('a', 'b')",
        "subject eq subject",
        "'a' eq 'a'",
        "true",
        "subject add 'x' eq 'y'",
        "start/dateTime eq 'not a date'",
        "start/dateTime eq '2027-13-01'",
        "start/dateTime gt 5",
        "start/dateTime gt 2027-01-04",
        "start/dateTime gt null",
        "start/dateTime gt duration'PT1H'",
        "start/dateTime lt '0001-01-01T00:00:00+01:00'",  # past what datetime holds in UTC
        "start/dateTime eq end/dateTime",
        "-start/dateTime gt '2027-01-04'",
        "not(subject eq 'x')",  # the ABNF wants white space after `not`
    ],
)
def test_unsupported_filters_are_refused(text: str) -> None:
    with pytest.raises(InvalidFilter):
        list_options({"$filter": text})


def test_deeply_nested_filter_is_refused_not_a_recursion_error() -> None:
    assert EventFilter("not " * MAX_FILTER_DEPTH + "(subject eq 'x')").matches(meeting()) is (
        MAX_FILTER_DEPTH % 2 == 1
    )
    with pytest.raises(InvalidFilter):
        EventFilter("not " * 5000 + "(subject eq 'x')")
    many = " or ".join(["subject eq 'x'"] * 5000)
    with pytest.raises(InvalidFilter):
        EventFilter(many)


def test_many_parentheses_are_not_depth() -> None:
    assert EventFilter("(" * 500 + "subject eq 'x'" + ")" * 500).matches(meeting(subject="X"))


# $filter, by property: the compiler agrees with a direct evaluation --------------------------

ZONES = {  # Graph's name -> IANA, read here independently of the product's mapping
    "UTC": "UTC",
    "Pacific Standard Time": "America/Los_Angeles",
    "W. Europe Standard Time": "Europe/Berlin",
    "Asia/Kolkata": "Asia/Kolkata",
}
SUBJECTS = ["Planning", "planning", "PLANNING", "Café", "CAFÉ", "Let's meet", ""]
ICALS = ["040000008200E00074C5B7101A82E008AAAA", "040000008200e00074c5b7101a82e008aaaa", "B"]
# A grid of half hours around the US spring-forward of 2027-03-14, in UTC and in local time.
BASE = datetime(2027, 3, 14)
STEPS = st.integers(min_value=-60, max_value=60)


@dataclass(frozen=True)
class Comparison:
    path: str  # "subject", "iCalUId", "start/dateTime", "end/dateTime"
    spelling: str  # as written in the filter
    op: str
    value: str | datetime  # a string, or an aware instant
    literal: str  # the value as written in the filter
    literal_first: bool


@dataclass(frozen=True)
class Negation:
    operand: Node


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    left: Node
    right: Node


Node = Comparison | Negation | Junction

FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def spellings(draw: st.DrawFn, path: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in path)


@st.composite
def string_comparisons(draw: st.DrawFn) -> Comparison:
    path = draw(st.sampled_from(["subject", "iCalUId"]))
    value = draw(st.sampled_from(SUBJECTS if path == "subject" else ICALS))
    return Comparison(
        path,
        draw(spellings(path)),
        draw(st.sampled_from(["eq", "ne"])),
        value,
        quoted(value),
        draw(st.booleans()),
    )


@st.composite
def time_comparisons(draw: st.DrawFn) -> Comparison:
    path = draw(st.sampled_from(["start/dateTime", "end/dateTime"]))
    instant = (BASE + timedelta(minutes=30 * draw(STEPS))).replace(tzinfo=UTC)
    offset = timezone(timedelta(minutes=draw(st.sampled_from([-480, -420, 0, 60, 330]))))
    shown = instant.astimezone(offset)
    literal = draw(
        st.sampled_from(
            [
                quoted(instant.strftime("%Y-%m-%dT%H:%M:%S")),  # no offset: UTC
                quoted(instant.strftime("%Y-%m-%dT%H:%M")),
                quoted(instant.strftime("%Y-%m-%dT%H:%M:%S.0000000")),
                quoted(shown.isoformat()),
                instant.strftime("%Y-%m-%dT%H:%M:%SZ"),  # a datetime literal
                shown.isoformat(),
            ]
        )
    )
    return Comparison(
        path,
        draw(spellings(path)),
        draw(st.sampled_from(list(FLIP))),
        instant,
        literal,
        draw(st.booleans()),
    )


def trees() -> st.SearchStrategy[Node]:
    leaves: st.SearchStrategy[Node] = st.one_of(string_comparisons(), time_comparisons())
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(Negation, children),
            st.builds(Junction, st.sampled_from(["and", "or"]), children, children),
        ),
        max_leaves=10,
    )


def render(node: Node, *, loose: bool) -> str:
    """OData text of the tree; `loose` adds parentheses everywhere, else only where needed."""
    if isinstance(node, Comparison):
        if node.literal_first:
            text = f"{node.literal} {FLIP[node.op]} {node.spelling}"
        else:
            text = f"{node.spelling} {node.op} {node.literal}"
        return f"({text})" if loose else text
    if isinstance(node, Negation):
        # `not` binds tighter than a comparison: its operand needs parentheses.
        inner = render(node.operand, loose=loose)
        return f"not {inner}" if isinstance(node.operand, Negation) or loose else f"not ({inner})"
    left, right = render(node.left, loose=loose), render(node.right, loose=loose)
    if node.op == "and" and not loose:
        # `and` binds tighter than `or`: an `or` below an `and` needs parentheses.
        left = f"({left})" if isinstance(node.left, Junction) and node.left.op == "or" else left
        right = (
            f"({right})" if isinstance(node.right, Junction) and node.right.op == "or" else right
        )
    text = f"{left} {node.op} {right}"
    return f"({text})" if loose else text


def utc(value: DateTimeTimeZone) -> datetime:
    local = datetime.fromisoformat(value.date_time)
    return local.replace(tzinfo=ZoneInfo(ZONES[value.time_zone])).astimezone(UTC)


def evaluate(node: Node, event: Event) -> bool:
    if isinstance(node, Negation):
        return not evaluate(node.operand, event)
    if isinstance(node, Junction):
        left, right = evaluate(node.left, event), evaluate(node.right, event)
        return left and right if node.op == "and" else left or right
    if node.path == "subject":
        assert isinstance(node.value, str)
        same = event.subject.casefold() == node.value.casefold()
        return same if node.op == "eq" else not same
    if node.path == "iCalUId":
        same = event.i_cal_u_id == node.value
        return same if node.op == "eq" else not same
    assert isinstance(node.value, datetime)
    mine = utc(event.start if node.path == "start/dateTime" else event.end)
    return {
        "eq": mine == node.value,
        "ne": mine != node.value,
        "lt": mine < node.value,
        "le": mine <= node.value,
        "gt": mine > node.value,
        "ge": mine >= node.value,
    }[node.op]


@st.composite
def events(draw: st.DrawFn) -> Event:
    tz = draw(st.sampled_from(list(ZONES)))
    start = BASE + timedelta(minutes=30 * draw(STEPS))
    end = start + timedelta(minutes=draw(st.sampled_from([0, 30, 60, 1440])))
    return meeting(
        subject=draw(st.sampled_from(SUBJECTS)),
        ical=draw(st.sampled_from(ICALS)),
        start=start.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        end=end.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        tz=tz,
    )


@settings(max_examples=400, deadline=None)
@given(tree=trees(), loose=st.booleans(), sample=st.lists(events(), min_size=1, max_size=5))
def test_compiled_filter_agrees_with_direct_evaluation(
    tree: Node, loose: bool, sample: list[Event]
) -> None:
    compiled = list_options({"$filter": render(tree, loose=loose)}).filter
    assert compiled is not None
    for event in sample:
        assert compiled.matches(event) is evaluate(tree, event)


def test_an_option_repeated_in_the_query_string_is_refused() -> None:
    with pytest.raises(InvalidQueryOption, match="more than once"):
        list_options([("$top", "2"), ("$top", "3")])
    assert list_options([("$top", "2"), ("startDateTime", "x"), ("startDateTime", "y")]).top == 2
