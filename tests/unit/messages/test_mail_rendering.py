"""A notice's mails (`Notice.mail`, its bytes joined from pieces written once) are the bytes
the email package writes for each recipient (`Mail.of(Notice.message(...))`), whoever the
recipient: a plain one (written from the pieces), or an unusual one (its `To:` line folded by
the email package, or its whole message written by it), and an address no message can go to
refused alike (InvalidRecipient)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.calendar.model import Attendee, EmailAddress, Notification, Recipient
from shared.messages.imip import InvalidRecipient, Mail, Notice, recipients
from tests.unit.messages.builders import invitation, occurrence_cancel, recurrence
from tests.unit.use_cases.delivery_fakes import attendee, notification

GUESTS = tuple(
    attendee(f"guest{n}@fabrikam.example", f"Guest {n}", kind)
    for n, kind in enumerate(["required", "optional", "resource"] * 2)
)


def organized_by(item: Notification, address: str) -> Notification:
    organizer = Recipient(email_address=EmailAddress(name="Adele Vance", address=address))
    return item.model_copy(update={"organizer": organizer})


SHAPES: dict[str, Notification] = {
    "cancel": notification(*GUESTS),
    "cancel, tricky subject and comment": notification(
        *GUESTS,
        subject="Sync\r\nBcc: eve@evil.example — Zoë 日本語 " + "long " * 20,
        comment='Line one\r\nLine two\n<b>Bold</b> & "quoted" 🎉',
    ),
    "cancel, organizer's domain long (Message-ID folded)": organized_by(
        notification(*GUESTS), "AdeleV@contoso.onmicrosoft.com"
    ),
    "cancel, organizer's domain very long": organized_by(
        notification(*GUESTS), "AdeleV@" + "a" * 60 + ".example"
    ),
    "cancel, no comment, UTC": notification(*GUESTS, comment=None, time_zone="UTC"),
    "cancel of an occurrence": occurrence_cancel(date(2027, 1, 11)).model_copy(
        update={"attendees": GUESTS}
    ),
    "cancel of an all-day occurrence": occurrence_cancel(
        date(2027, 1, 11), all_day=True
    ).model_copy(update={"attendees": GUESTS}),
    "invitation": invitation().model_copy(update={"attendees": GUESTS}),
    "invitation of a series": invitation(
        pattern=recurrence(
            {"type": "weekly", "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
            date(2026, 12, 7),
            "W. Europe Standard Time",
        ),
        cancelled=("OID.AAMkEvent1.2026-12-14",),
    ).model_copy(update={"attendees": GUESTS}),
    "invitation, organizer's domain long": organized_by(
        invitation().model_copy(update={"attendees": GUESTS}), "AdeleV@contoso.onmicrosoft.com"
    ),
}


def primed(item: Notification) -> Notice:
    """A notice that has made its first mail: the next are joined from its pieces."""
    notice = Notice(item)
    notice.mail(recipients(item)[0])
    return notice


NOTICES = {shape: primed(item) for shape, item in SHAPES.items()}


def assert_same(notice: Notice, guest: Attendee) -> None:
    """`mail` is `Mail.of(message)`: the same bytes and Message-ID, or the same refusal."""
    try:
        expected = Mail.of(notice.message(guest))
    except InvalidRecipient:
        with pytest.raises(InvalidRecipient):
            notice.mail(guest)
        return
    except Exception as error:  # whatever the email package refuses, both refuse
        with pytest.raises(type(error)):
            notice.mail(guest)
        return
    made = notice.mail(guest)
    assert made.message_id == expected.message_id
    assert made.data == expected.data


# --- recipients drawn --------------------------------------------------------------------

ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"
SPECIALS = ',"\\()<>@;:.[] '
CONTROLS = "\r\n\t\x00\x1b\x7f"

words = st.text(alphabet=ATEXT, min_size=1, max_size=12)
names = st.one_of(
    st.just(""),
    st.lists(words, min_size=1, max_size=4).map(" ".join),
    st.text(alphabet=ATEXT + SPECIALS, max_size=30),
    st.text(alphabet=ATEXT + SPECIALS + CONTROLS + "éüßØ日本語🎉", max_size=30),
    st.text(max_size=30),
    st.lists(words, min_size=8, max_size=25).map(" ".join),  # a line the policy folds
)
dot_atoms = st.lists(words, min_size=1, max_size=4).map(".".join)
labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)
addresses = st.one_of(
    st.builds("{}@{}.example".format, dot_atoms, labels),  # plain: `.`, `+`, `'` and the rest
    st.builds("{}@{}".format, dot_atoms, domains),
    st.builds("{}@{}".format, st.text(alphabet=ATEXT, min_size=60, max_size=90), domains),
    st.builds("{}@{}.example".format, dot_atoms, st.text(alphabet="abc.", max_size=120)),
    st.builds('"{}"@fabrikam.example'.format, st.text(alphabet=ATEXT + SPECIALS, max_size=20)),
    st.builds("{}@[192.168.{}.1]".format, dot_atoms, st.integers(0, 255)),
    st.builds(" {}@{}.example ".format, dot_atoms, labels),
    st.text(alphabet=ATEXT + SPECIALS + CONTROLS + "é", max_size=30),  # mostly invalid
    st.text(max_size=20),
)
guests = st.builds(
    attendee, addresses, names, st.sampled_from(["required", "optional", "resource"])
)


@pytest.mark.parametrize("shape", SHAPES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(guest=guests)
def test_a_mail_is_the_message_the_email_package_writes(shape: str, guest: Attendee) -> None:
    assert_same(NOTICES[shape], guest)


@pytest.mark.parametrize("shape", ["cancel", "cancel of an occurrence", "invitation"])
@settings(max_examples=40, deadline=None)
@given(first=guests, then=guests)
def test_any_recipient_may_be_the_first(shape: str, first: Attendee, then: Attendee) -> None:
    notice = Notice(SHAPES[shape])
    assert_same(notice, first)
    assert_same(notice, then)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_notice_is_written_from_its_pieces(shape: str) -> None:
    """The email package writes what `_Written` expects: no notice falls back to it."""
    notice = NOTICES[shape]
    assert notice._written is not None
    assert not notice._unwritten
    if SHAPES[shape].method == "CANCEL":  # and plain ATTENDEE lines as icalendar writes them
        assert notice._written.plain_lines


# --- recipients chosen --------------------------------------------------------------------

PLAIN = "pat@fabrikam.example"
EDGES: list[tuple[str, str]] = [
    ("Guest 0", PLAIN),
    ("", PLAIN),
    ("Pat", "first.last+tag@sub.fabrikam.example"),
    ("UPPER lower", "UPPER@Fabrikam.EXAMPLE"),
    ("O'Brien", "o'brien@fabrikam.example"),
    ("Caret^Name", PLAIN),  # RFC 6868 escapes `^` in CN
    ("J. Smith", PLAIN),
    ("Smith, John", PLAIN),
    ('Pat "the cat" Jones', PLAIN),
    ("Back\\slash", PLAIN),
    ("(paren)", PLAIN),
    ("<angle>", PLAIN),
    ("at@sign", PLAIN),
    ("semi;colon", PLAIN),
    ("co:lon", PLAIN),
    ("[bracket]", PLAIN),
    ("Zoë Ünicode", PLAIN),
    ("日本語", PLAIN),
    ("🎉", PLAIN),
    ("  padded  ", PLAIN),
    ("double  space", PLAIN),
    ("Line\r\nBcc: eve@evil.example", PLAIN),
    ("Tab\tName", PLAIN),
    ("\x00\x1b\x7f", PLAIN),
    ("=?utf-8?q?Encoded?=", PLAIN),
    ("=?utf-8?b?w7w=?=", PLAIN),
    ("a=b", PLAIN),
    ("What?", PLAIN),
    ("!#$%&'*+/=^_`{|}~-", PLAIN),
    ("N" * 53, PLAIN),  # `To: N… <pat@fabrikam.example>`: 78 characters, one line
    ("N" * 54, PLAIN),  # 79: folded
    ("Word " * 40 + "End", PLAIN),
    ("N" * 200, PLAIN),
    ("Pat", "p" * 64 + "@fabrikam.example"),
    ("Pat", "p@" + ".".join(["sub"] * 60) + ".example"),
    ("", "p" * 74 + "@x.y"),  # `To: p…@x.y`: 78
    ("", "p" * 75 + "@x.y"),  # 79
    ("Pat", " padded@fabrikam.example "),
    ("Pat", "a!#$%&'*+/=?^_`{|}~-@fabrikam.example"),
    ("Pat", "a=b@fabrikam.example"),
    ("Pat", "x?y@fabrikam.example"),
    ("Pat", '"john doe"@fabrikam.example'),
    ("Pat", '"a\\"b"@fabrikam.example'),
    ("Pat", "user@[192.168.0.1]"),
    ("Pat", "user@localhost"),
    ("Pat", "ü@fabrikam.example"),
    ("Pat", "pat@bücher.example"),
    ("Pat", "PAT@FABRIKAM.EXAMPLE"),
    # no message can go to these: both refuse them
    ("Pat", "not an address"),
    ("Pat", ""),
    ("Pat", "pat@"),
    ("Pat", "@fabrikam.example"),
    ("Pat", "pat@@fabrikam.example"),
    ("Pat", "a b@fabrikam.example"),
    ("Pat", "a..b@fabrikam.example"),
    ("Pat", ".a@fabrikam.example"),
    ("Pat", "a.@fabrikam.example"),
    ("Pat", "pat@fabrikam..example"),
    ("Pat", "pat\r\nBcc: eve@evil.example"),
    ("Pat", "pat@fabrikam.example, eve@evil.example"),
    ("Pat", "Pat <pat@fabrikam.example>"),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "address"), EDGES)
@pytest.mark.parametrize("kind", ["required", "resource"])
def test_an_edge_case_mail_is_the_message_the_email_package_writes(
    shape: str, name: str, address: str, kind: str
) -> None:
    assert_same(NOTICES[shape], attendee(address, name, kind))


def test_addresses_no_message_can_go_to_are_refused() -> None:
    notice = NOTICES["cancel"]
    for address in ("not an address", "", "pat@", "a b@fabrikam.example", "a..b@x.example"):
        with pytest.raises(InvalidRecipient):
            notice.mail(attendee(address, "Pat"))


def test_a_plain_recipient_s_mail_says_its_to_and_message_id_on_one_line() -> None:
    notice = NOTICES["cancel"]
    mail = notice.mail(attendee(PLAIN, "Pat Jones"))
    assert b"\r\nTo: Pat Jones <pat@fabrikam.example>\r\n" in mail.data
    assert f"\r\nMessage-ID: {mail.message_id}\r\n".encode() in mail.data


# --- threads ------------------------------------------------------------------------------


def side_by_side(notice: Notice, people: list[Attendee], threads: int = 8) -> list[Mail]:
    """The mails of `people` made by `threads` threads, the first ones started at once."""
    start = threading.Barrier(threads)

    def made(numbered: tuple[int, Attendee]) -> Mail:
        number, guest = numbered
        if number < threads:
            start.wait(timeout=30)
        return notice.mail(guest)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(made, enumerate(people)))


@pytest.mark.parametrize("shape", ["cancel", "cancel of an occurrence", "invitation of a series"])
def test_mails_made_by_many_threads_at_once_are_those_made_one_by_one(shape: str) -> None:
    item = SHAPES[shape]
    kinds = [("Guest", "required"), ("Zoë", "optional"), ("J. Smith", "resource"), ("", "required")]
    people = [
        attendee(f"guest{n}@fabrikam.example", name, kind)
        for n, (name, kind) in enumerate(kinds * 10)
    ]
    one_by_one = Notice(item)
    alone = [one_by_one.mail(guest) for guest in people]
    assert alone == [Mail.of(one_by_one.message(guest)) for guest in people]

    for _ in range(3):  # a fresh notice each time: its first mails too are made side by side
        assert side_by_side(Notice(item), people) == alone
