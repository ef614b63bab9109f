"""The message one attendee receives: a MIME message with text, HTML and iCalendar parts.

RFC 6047 (iMIP) carrying one of RFC 5546's two methods the product sends:

- `CANCEL` (a meeting, or one occurrence, cancelled): `Canceled: <subject>`, the meeting's
  `UID` (its iCalUId), the `SEQUENCE` the cancel incremented, `STATUS:CANCELLED`,
  `TRANSP:TRANSPARENT` and `X-MICROSOFT-CDO-BUSYSTATUS:FREE` (so Outlook frees the slot), the
  organizer, that one attendee, the comment as `DESCRIPTION`, and `RECURRENCE-ID` when a
  single occurrence is cancelled;
- `REQUEST` (an invitation, when a meeting is created): the subject as it is, `SEQUENCE`,
  `STATUS:CONFIRMED`, `LOCATION`, the body as `DESCRIPTION`, the organizer and every attendee
  (`PARTSTAT=NEEDS-ACTION;RSVP=TRUE`), and for a series its `RRULE` (from Graph's
  patternedRecurrence) with an `EXDATE` per occurrence already cancelled.

Times are written as the event has them: an all-day event as dates (`VALUE=DATE`, its
occurrences' `RECURRENCE-ID` too); a timed one in its own zone (`TZID=` the zone's name as the
event writes it, Windows names included) with a `VTIMEZONE` whose `STANDARD`/`DAYLIGHT`
rules are `RRULE`s derived from zoneinfo for the year of the event, as Exchange writes them;
UTC with `Z`; and a zone the product cannot resolve as floating time (no TZID, no `Z`), never
as a local time labelled UTC. An occurrence's `RECURRENCE-ID` is its original start in the
series' zone.

The stdlib `email` package writes the headers and refuses CR or LF in any of them; texts from
the store are made single-line first, so a subject with a line break is sent rather than
refused. An HTML body is reduced to an allow-list of tags and attributes (no scripts, styles,
images or event handlers) before it joins the HTML part; the text part and `DESCRIPTION` get
its text. The message is a pure function of the notification and the recipient (its Date and
DTSTAMP are the moment of the change), so a re-sent message is the same message.
"""

from __future__ import annotations

import binascii
import calendar as _calendar
import copy
import hashlib
import html
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from shared.calendar.model import (
    Attendee,
    DateTimeTimeZone,
    EmailAddress,
    Notification,
    PatternedRecurrence,
)
from shared.calendar.recurrence import ICALENDAR_IMPORT, UnknownTimeZone, zone

with ICALENDAR_IMPORT:  # never beside another thread's first import of it
    import icalendar
    from icalendar.parser import Contentline

log = logging.getLogger(__name__)

CANCELED_PREFIX = "Canceled: "
PRODID = "-//graph-event-cancel//mail worker//EN"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_OCCURRENCE_DATE = re.compile(r"\.(\d{4}-\d{2}-\d{2})$")
_ROLES = {
    "required": "REQ-PARTICIPANT",
    "optional": "OPT-PARTICIPANT",
    "resource": "NON-PARTICIPANT",
}
_BYDAY = {
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
    "sunday": "SU",
}
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_FREQ = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "absoluteMonthly": "MONTHLY",
    "relativeMonthly": "MONTHLY",
    "absoluteYearly": "YEARLY",
    "relativeYearly": "YEARLY",
}
_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # date.weekday() order
_RULES_SINCE = 1601
"""The year each VTIMEZONE observance starts in, as Exchange writes them (Windows' epoch)."""


class InvalidRecipient(ValueError):
    """An attendee address no message can be addressed to: trying again cannot help."""


def canceled_subject(subject: str) -> str:
    """`Canceled: <subject>`, never `Canceled: Canceled: …`."""
    if subject.casefold().startswith(CANCELED_PREFIX.casefold()):
        return subject
    return CANCELED_PREFIX + subject


def subject_of(notification: Notification) -> str:
    """The message's subject: the meeting's for an invitation, `Canceled: …` for a cancel."""
    if notification.method == "REQUEST":
        return notification.subject
    return canceled_subject(notification.subject)


def recipient_key(address: str) -> str:
    """Addresses are compared case-insensitively, as mail systems compare them in practice."""
    return address.strip().casefold()


def recipients(notification: Notification) -> tuple[Attendee, ...]:
    """Every attendee once, in the meeting's order, the organizer left out."""
    seen = {recipient_key(notification.organizer.email_address.address)}
    found: list[Attendee] = []
    for attendee in notification.attendees:
        key = recipient_key(attendee.email_address.address)
        if key and key not in seen:
            seen.add(key)
            found.append(attendee)
    return tuple(found)


def single_line(text: str) -> str:
    """Control characters (CR and LF above all) become one space: headers stay one line."""
    return _CONTROL.sub(" ", text).strip()


def mail_address(email: EmailAddress) -> Address:
    """The header address of a Graph emailAddress; InvalidRecipient when it is not one."""
    try:
        address = Address(display_name=single_line(email.name), addr_spec=email.address.strip())
    except (ValueError, IndexError, MessageError) as error:
        raise InvalidRecipient(f"{email.address!r} is not an email address: {error}") from None
    if not address.username or not address.domain:
        raise InvalidRecipient(f"{email.address!r} is not an email address")
    return address


def message_id(notification: Notification, recipient: str, domain: str) -> str:
    """The same Message-ID every time this notification goes to this recipient, so a receiver
    that sees it twice can tell; an invitation's (`invite.`) never equals a cancellation's
    (`cancel.`)."""
    seed = f"{notification.mailbox}|{notification.id}|{recipient_key(recipient)}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:40]
    prefix = "invite" if notification.method == "REQUEST" else "cancel"
    return f"<{prefix}.{digest}@{domain if _DOMAIN.match(domain) else 'cancel.invalid'}>"


def message_for(notification: Notification, attendee: Attendee) -> EmailMessage:
    """The message for one attendee. InvalidRecipient when the attendee's address is not one."""
    mail_address(attendee.email_address)  # an unusable attendee is named before the organizer
    return Notice(notification).message(attendee)


BOUNDARY_PREFIX = "=" * 15
"""As the email package writes a boundary. Quoted-printable writes `=` as `=3D` and base64
has no run of `=`, so no part can hold a line that looks like one."""


def boundary_of(notification: Notification) -> str:
    """The multipart boundary of the notification's messages: the same on every send, so a
    re-sent message is the same bytes (the email package would draw a random one)."""
    seed = f"{notification.mailbox}|{notification.id}|{notification.method}"
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16)
    return f"{BOUNDARY_PREFIX}{digest % 10**19:019d}=="


_ATTENDEE_MARK = "ATTENDEE:mailto:attendee@attendee.invalid\r\n"
"""Where a cancellation's one attendee goes in its calendar text, as icalendar writes such an
attendee (never folded, and on a line of its own: no value holds a bare CRLF)."""


@dataclass(frozen=True)
class Mail:
    """A message as it goes out: its bytes as `EmailMessage.as_bytes(policy=SMTP)` writes them
    (CRLF line ends, 7-bit), and its Message-ID (a maildir names its file after it)."""

    message_id: str
    data: bytes

    @classmethod
    def of(cls, message: EmailMessage) -> Mail:
        return cls(str(message["Message-ID"]), message.as_bytes(policy=policy.SMTP))


class Notice:
    """What the messages of one notification share, made once for all its recipients: the
    organizer, subject and date headers, the text and HTML parts, and the calendar part (an
    invitation's lists every attendee, so it is the same for all of them; a cancellation's
    differs in its one ATTENDEE line only, written into the rest made once).

    `message(attendee)` is the message `message_for` makes, byte for byte; `mail(attendee)` its
    bytes as they go out, joined from pieces written once. The parts are shared by the
    messages made from one notice and never changed, so they may be written out by several
    threads at once. ValueError when the organizer's address is unusable.
    """

    def __init__(self, notification: Notification) -> None:
        self.notification = notification
        try:
            self.organizer = mail_address(notification.organizer.email_address)
        except InvalidRecipient as error:
            raise ValueError(f"the organizer's address is unusable: {error}") from None
        self._from = _header("From", self.organizer)
        self._subject = _header("Subject", single_line(subject_of(notification)))
        self._date = _header("Date", format_datetime(utc(notification.cancelled_at)))
        self._version = _header("MIME-Version", "1.0")
        self._class = _header("Content-Class", "urn:content-classes:calendarmessage")
        self._type = _header(
            "Content-Type", f'multipart/alternative; boundary="{boundary_of(notification)}"'
        )
        text = MIMEPart(policy=policy.SMTP)
        text.set_content(text_body(notification), cte="quoted-printable")
        html_part = MIMEPart(policy=policy.SMTP)
        html_part.set_content(html_body(notification), subtype="html", cte="quoted-printable")
        calendar = MIMEPart(policy=policy.SMTP)
        whole = calendar_text(notification, None)
        calendar.set_content(
            whole, subtype="calendar", params={"method": notification.method}, cte="base64"
        )
        self._parts = (text, html_part, calendar)
        self._around: tuple[str, str] | None = None
        if notification.method == "CANCEL":  # one attendee, written into the rest
            # Preceded by CRLF: a line's start (a folded line goes on after CRLF and a space).
            pieces = whole.split("\r\n" + _ATTENDEE_MARK)
            if len(pieces) != 2:
                raise AssertionError("the calendar text has no one place for its attendee")
            self._around = (pieces[0] + "\r\n", pieces[1])
        self._written: _Written | None = None
        """The bytes its messages share, cut from the first mail (`mail`)."""
        self._unwritten = False
        """True when that mail's bytes were not cut: every mail written by the email package."""

    def message(self, attendee: Attendee) -> EmailMessage:
        """The message for one attendee. InvalidRecipient when its address is not one."""
        to = mail_address(attendee.email_address)
        identifier = message_id(self.notification, to.addr_spec, self.organizer.domain)
        text, html_part, calendar = self._parts
        if self._around is not None:
            head, tail = self._around
            calendar = copy.copy(calendar)  # its headers, shared and never changed
            calendar.set_payload(_base64_lines(head + _attendee_line(attendee) + tail))
        message = EmailMessage(policy=policy.SMTP)
        # Header objects go in as they are (`set_raw`); those of every message are made once.
        message.set_raw("From", self._from)
        message.set_raw("To", _header("To", to))
        message.set_raw("Subject", self._subject)
        message.set_raw("Date", self._date)
        message.set_raw("Message-ID", _header("Message-ID", identifier))
        message.set_raw("MIME-Version", self._version)
        message.set_raw("Content-Type", self._type)
        message.set_raw("Content-Class", self._class)
        message.set_payload([text, html_part, calendar])
        return message

    def mail(self, attendee: Attendee) -> Mail:
        """`message(attendee)` as it goes out: the bytes of `Mail.of(message(attendee))`.
        InvalidRecipient when its address is not one.

        The first mail is written by the email package and its bytes cut around what differs
        by recipient (`_Written`); the next are those pieces joined with the recipient's own:
        its `To:` line (`_plain_to`, else the header as the policy folds it), its Message-ID
        and, for a cancellation, the calendar part's base64, which holds its ATTENDEE line
        (`_plain_attendee_line`, else icalendar's).
        What `message` would refuse with another error than InvalidRecipient, it refuses.
        """
        written = self._written
        if written is None:  # the first mail, or every mail when the first was not cut
            return self._first(attendee)
        try:
            address, to = _to_line(attendee.email_address)
            identifier = message_id(self.notification, address, self.organizer.domain)
            return Mail(identifier, written.data(to, identifier, attendee))
        except InvalidRecipient:
            raise
        except Exception:  # the email package's or icalendar's error, as `message` raises it
            return Mail.of(self.message(attendee))

    def _first(self, attendee: Attendee) -> Mail:
        """The mail as the email package writes it, its pieces kept for the next mails; when
        its bytes are not those pieces around the attendee's own (an email package that
        writes otherwise), none: every mail is then written by the email package.

        Several threads may make first mails at once: each keeps equal pieces."""
        mail = Mail.of(self.message(attendee))
        if not self._unwritten:
            try:
                _, to = _to_line(attendee.email_address)
            except Exception:  # not this mail's to cut (the email package wrote its To:)
                return mail
            written = _Written.cut(self, attendee, to, mail)
            if written is None:
                self._unwritten = True
                log.warning("the messages of %s are written one by one", self.notification.id)
            else:
                self._written = written
        return mail


_ATEXT = "A-Za-z0-9!#$%&'*+/=^_`{|}~-"
"""RFC 5322 atext but `?`: no encoded word (`=?…?=`), which the email package would decode."""
_PLAIN_NAME = re.compile(f"(?:[{_ATEXT}]+(?: [{_ATEXT}]+)*)?")
_PLAIN_ADDRESS = re.compile(f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*@[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*")
_HEADER_WIDTH = policy.SMTP.max_line_length or 78


def _plain_to(name: str, address: str) -> bytes | None:
    """The `To:` line of a plain recipient, as the email package writes it: a display name of
    atext words, each space between them single, and a dot-atom addr-spec (a valid address:
    `mail_address` takes it as it is) on one line that needs no folding; None for any other."""
    if not _PLAIN_ADDRESS.fullmatch(address) or not _PLAIN_NAME.fullmatch(name):
        return None
    line = f"To: {name} <{address}>" if name else f"To: {address}"
    return (line + "\r\n").encode("ascii") if len(line) <= _HEADER_WIDTH else None


def _to_line(email: EmailAddress) -> tuple[str, bytes]:
    """The addr-spec of the recipient and its `To:` line as the generator writes it (the
    header object folded by the policy, when not plain). InvalidRecipient as `mail_address`."""
    address = email.address.strip()
    to = _plain_to(email.name, address)
    if to is not None:
        return address, to
    header = mail_address(email)
    return header.addr_spec, policy.SMTP.fold_binary("To", _header("To", header))


@dataclass(frozen=True)
class _Written:
    """The bytes of a notice's messages around what differs by recipient, in order: `start`
    (the From line), the recipient's `To:` line, `middle` (Subject and Date), `id_start`
    (`Message-ID:` and what the policy folds before the identifier), the identifier, `rest`.

    An invitation's `rest` is the rest of the message. A cancellation's ends within its
    calendar part's base64, after the lines of the calendar text's first 57-byte blocks;
    then comes the base64 of `calendar_head` (the text after those blocks up to the ATTENDEE
    line), the recipient's ATTENDEE line and `calendar_tail`, each line ended by CRLF as
    `_base64_lines` ends them, and `end`: the close of the part and of the message. The
    identifier's length is the same in every message of the notice (its prefix and domain
    the notice's, its digest 40 hex digits), so the policy folds every one alike."""

    start: bytes
    middle: bytes
    id_start: bytes
    rest: bytes
    calendar_head: bytes | None = None
    calendar_tail: bytes = b""
    end: bytes = b""
    plain_lines: bool = False
    """Whether `_plain_attendee_line` writes ATTENDEE lines as icalendar does (checked)."""

    def data(self, to: bytes, identifier: str, attendee: Attendee) -> bytes:
        head = (self.start, to, self.middle, self.id_start, identifier.encode("ascii"), self.rest)
        if self.calendar_head is None:
            return b"".join(head)
        plain = _plain_attendee_line(attendee) if self.plain_lines else None
        line = plain or _crlf_lines(_attendee_line(attendee).encode("utf-8"))
        calendar = _base64_written(self.calendar_head + line + self.calendar_tail)
        return b"".join((*head, calendar, self.end))

    @classmethod
    def cut(cls, notice: Notice, attendee: Attendee, to: bytes, mail: Mail) -> _Written | None:
        """The pieces of `mail`, the message of `notice` for `attendee` (whose `To:` line is
        `to`) as the email package wrote it; None when its bytes are not made of them.

        The generator writes each header as the policy folds its object (`fold_binary`), in
        the order `message` sets them, then a blank line and the body; a text part's payload
        (the calendar's base64 lines, `_base64_lines`) line by line, each ended by CRLF. What
        holds for this message is checked, its bytes against the pieces'."""
        fold = policy.SMTP.fold_binary
        identifier = mail.message_id.encode("ascii")
        id_line = fold("Message-ID", _header("Message-ID", mail.message_id))
        if id_line.count(identifier) != 1:
            return None
        id_start, id_end = id_line.split(identifier)
        start = fold("From", notice._from)
        middle = fold("Subject", notice._subject) + fold("Date", notice._date)
        headers = start + to + middle + id_line
        after = (
            fold("MIME-Version", notice._version)
            + fold("Content-Type", notice._type)
            + fold("Content-Class", notice._class)
            + b"\r\n"
        )
        if not mail.data.startswith(headers + after):
            return None
        rest = id_end + mail.data[len(headers) :]
        if notice._around is None:  # an invitation: its calendar part is everyone's
            return cls(start, middle, id_start, rest)
        head, tail = (_crlf_lines(text.encode("utf-8")) for text in notice._around)
        line = _crlf_lines(_attendee_line(attendee).encode("utf-8"))
        calendar = _base64_written(head + line + tail)
        if rest.count(calendar) != 1:
            return None
        before, end = rest.split(calendar)
        whole = len(head) // _BASE64_STEP * _BASE64_STEP  # on lines of their own
        before += _base64_written(head[:whole])
        plain_lines = all(
            _plain_attendee_line(probe) == _crlf_lines(_attendee_line(probe).encode("utf-8"))
            for probe in (attendee, *_PROBES)
        )
        return cls(start, middle, id_start, before, head[whole:], tail, end, plain_lines)


def _plain_attendee_line(attendee: Attendee) -> bytes | None:
    """A cancellation's ATTENDEE line (`_attendee_line`) of a recipient whose name is atext
    words (no `^`, which RFC 6868 escapes) and address a dot-atom addr-spec without `^`, as
    icalendar writes it: its parameters in order, CN quoted when it holds a space or `'`,
    folded every 74 characters (no `\\` or `^` to keep whole); None for any other.

    `_Written.cut` checks it against icalendar (`_PROBES`) before it is used."""
    email = attendee.email_address
    name, address = email.name, email.address.strip()
    if "^" in name or "^" in address:
        return None
    if not _PLAIN_NAME.fullmatch(name) or not _PLAIN_ADDRESS.fullmatch(address):
        return None
    params = []
    if name:
        params.append(f'CN="{name}"' if " " in name or "'" in name else f"CN={name}")
    if attendee.type == "resource":
        params.append("CUTYPE=RESOURCE")
    params.append(f"ROLE={_ROLES[attendee.type]}")
    line = f"ATTENDEE;{';'.join(params)}:mailto:{address}"
    folded = "\r\n ".join(line[i : i + _ICAL_FOLD] for i in range(0, len(line), _ICAL_FOLD))
    return (folded + "\r\n").encode("ascii")


_ICAL_FOLD = 74
"""The characters of a folded iCalendar line icalendar writes (75 octets with the fold's
space), of an ASCII line."""
_PROBES = tuple(
    Attendee(type=kind, email_address=EmailAddress(name=name, address=address))
    for kind, name, address in (
        ("required", "", "a@b.example"),
        ("optional", "Pat", "first.last+tag@fabrikam.example"),
        ("resource", "Conf Room 1", "room1@fabrikam.example"),
        ("required", "O'Brien", "o'brien@fabrikam.example"),
        (
            "required",
            "Pat Q Long Name With Words",
            "pat.q.long.name.with.words@sub.fabrikam.example",
        ),
        ("resource", "x" * 80, "y" * 80 + "@" + "z" * 80 + ".example"),
    )
)
"""Recipients whose ATTENDEE lines try each branch of `_plain_attendee_line` (names with and
without a space or `'`, each role, lines folded once and several times)."""


@lru_cache(maxsize=32)
def _header_class(name: str) -> Any:
    """The policy's class for a header (the registry makes a new class on every lookup)."""
    return policy.SMTP.header_factory[name]  # type: ignore[index]


def _header(name: str, value: object) -> Any:
    """The header object `message[name] = value` would store."""
    return _header_class(name)(name, value)


_BASE64_STEP = (policy.SMTP.max_line_length or 76) // 4 * 3
"""The bytes encoded on one base64 line (57: 76 characters)."""


def _crlf_lines(data: bytes) -> bytes:
    """Each line ended by CRLF, as `set_content` ends a text's lines (the policy's linesep)."""
    return b"".join(line + b"\r\n" for line in data.splitlines())


def _base64_lines(text: str) -> str:
    """A text part's body in base64, as `set_content(…, cte="base64")` writes it: lines ended
    by the policy's CRLF, encoded 57 bytes (76 characters) to a line."""
    data = _crlf_lines(text.encode("utf-8"))
    return "".join(
        binascii.b2a_base64(data[i : i + _BASE64_STEP]).decode("ascii")
        for i in range(0, len(data), _BASE64_STEP)
    )


def _base64_written(data: bytes) -> bytes:
    """`_base64_lines` of text whose lines `data` holds, as the generator writes that payload:
    each line ended by CRLF (a base64 line ends with LF)."""
    return b"".join(
        binascii.b2a_base64(data[i : i + _BASE64_STEP], newline=False) + b"\r\n"
        for i in range(0, len(data), _BASE64_STEP)
    )


def _attendee_line(attendee: Attendee) -> str:
    """The ATTENDEE content line of a cancellation, folded, as icalendar writes it in place."""
    guest = _attendee_address(attendee, request=False)
    line = Contentline.from_parts("ATTENDEE", guest.params, guest, sorted=True)
    return bytes(line.to_ical()).decode("utf-8") + "\r\n"


# --- the text and HTML parts ---------------------------------------------------------------


def _lines(text: str) -> str:
    """Line breaks as the one kind every format writes its own way."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def comment_text(notification: Notification) -> str:
    """The comment verbatim, its line breaks normalised."""
    return _lines(notification.comment or "")


def body_text(notification: Notification) -> str:
    """The meeting's body as text: verbatim for a text body, the text of an HTML one."""
    body = notification.body
    if body is None or not body.content.strip():
        return ""
    if body.content_type == "html":
        return _SafeHtml.of(body.content).text
    return _lines(body.content).strip("\n")


def _what_to_say(notification: Notification) -> str:
    """What the message says besides the facts: the comment of a cancel, the invitation's body."""
    return (
        body_text(notification) if notification.method == "REQUEST" else comment_text(notification)
    )


def _headline(notification: Notification) -> str:
    if notification.method == "REQUEST":
        if notification.recurrence is not None:
            return "You have been invited to a recurring meeting."
        return "You have been invited to a meeting."
    if notification.occurrence_id is not None:
        return "One occurrence of this meeting has been canceled."
    return "This meeting has been canceled."


def _day(moment_: datetime) -> str:
    return f"{moment_:%A, %B} {moment_.day}, {moment_:%Y}"


def _day_and_time(moment_: datetime) -> str:
    return f"{_day(moment_)} {moment_:%H:%M}"


def _when(notification: Notification) -> str:
    start, end = _wall_clock(notification.start), _wall_clock(notification.end)
    if notification.is_all_day:
        last = max(end.date() - timedelta(days=1), start.date())  # DTEND is the day after
        if last == start.date():
            return f"{_day(start)} (all day)"
        return f"{_day(start)} - {_day(datetime.combine(last, time()))} (all day)"
    until = f"{end:%H:%M}" if end.date() == start.date() else _day_and_time(end)
    if notification.end.time_zone != notification.start.time_zone:
        until += f" ({notification.end.time_zone})"
    return f"{_day_and_time(start)} - {until} ({notification.start.time_zone})"


def _where(notification: Notification) -> str:
    return single_line(notification.location.display_name) if notification.location else ""


def _organizer(notification: Notification) -> str:
    email = notification.organizer.email_address
    name = single_line(email.name)
    return f"{name} <{email.address}>" if name else email.address


def text_body(notification: Notification) -> str:
    lines = [
        _headline(notification),
        "",
        f"Subject: {single_line(notification.subject)}",
        f"When: {_when(notification)}",
    ]
    if where := _where(notification):
        lines.append(f"Where: {where}")
    lines.append(f"Organizer: {_organizer(notification)}")
    said = _what_to_say(notification)
    return "\n".join([*lines, "", said] if said else lines) + "\n"


def _escaped(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>\n")


def html_body(notification: Notification) -> str:
    facts = [
        f"<b>Subject:</b> {_escaped(single_line(notification.subject))}",
        f"<b>When:</b> {_escaped(_when(notification))}",
    ]
    if where := _where(notification):
        facts.append(f"<b>Where:</b> {_escaped(where)}")
    facts.append(f"<b>Organizer:</b> {_escaped(_organizer(notification))}")
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{_escaped(single_line(subject_of(notification)))}</title></head>",
        "<body>",
        f"<p>{_escaped(_headline(notification))}</p>",
        "<p>",
        "<br>\n".join(facts),
        "</p>",
    ]
    if notification.method == "CANCEL":
        if comment := comment_text(notification):
            parts.append(f'<div class="comment">{_escaped(comment)}</div>')
    elif (body := notification.body) is not None and body.content.strip():
        content = (
            _SafeHtml.of(body.content).html
            if body.content_type == "html"
            else _escaped(_lines(body.content))
        )
        parts.append(f'<div class="body">{content}</div>')
    return "\n".join([*parts, "</body></html>"]) + "\n"


def _tags(names: str) -> frozenset[str]:
    return frozenset(names.split())


_ALLOWED_TAGS = _tags(
    "a b blockquote br code div em h1 h2 h3 h4 h5 h6 hr i li ol p pre s span strike strong"
    " sub sup table tbody td tfoot th thead tr u ul"
)
_VOID_TAGS = _tags("br hr")
_DROPPED_WITH_CONTENT = _tags(
    "script style head title template noscript iframe object svg math textarea select"
    " noembed noframes frameset"
)
_BLOCK_TAGS = _tags("blockquote div h1 h2 h3 h4 h5 h6 hr li ol p pre table tr ul")
_SAFE_LINK = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)


class _SafeHtml(HTMLParser):
    """An HTML body reduced to an allow-list of tags (no attributes but a link's http(s) or
    mailto `href` and a cell's spans; scripts, styles and their content dropped), and its
    text for the text part and DESCRIPTION."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._html: list[str] = []
        self._text: list[str] = []
        self._open: list[str] = []
        self._dropping = 0
        self._pre = 0

    @classmethod
    def of(cls, content: str) -> _SafeHtml:
        parser = cls()
        parser.feed(content)
        parser.close()
        return parser

    @property
    def html(self) -> str:
        return "".join([*self._html, *(f"</{tag}>" for tag in reversed(self._open))])

    @property
    def text(self) -> str:
        lines = [line.strip() for line in "".join(self._text).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self._dropping += 1
            return
        if self._dropping:
            return
        if tag in _BLOCK_TAGS or tag == "br":
            self._text.append("\n- " if tag == "li" else "\n")
        if tag == "pre":
            self._pre += 1
        if tag not in _ALLOWED_TAGS:
            return
        kept = "".join(
            f' {name}="{html.escape(value, quote=True)}"'
            for name, value in attrs
            if value is not None and _attribute_allowed(tag, name, value)
        )
        self._html.append(f"<{tag}{kept}>")
        if tag not in _VOID_TAGS:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self._dropping = max(0, self._dropping - 1)
            return
        if self._dropping:
            return
        if tag in _BLOCK_TAGS and tag != "li":
            self._text.append("\n")
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in self._open:
            while self._open:
                closed = self._open.pop()
                self._html.append(f"</{closed}>")
                if closed == tag:
                    break

    def handle_data(self, data: str) -> None:
        if self._dropping:
            return
        self._html.append(html.escape(data, quote=False))
        self._text.append(_lines(data) if self._pre else re.sub(r"\s+", " ", data))


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if tag == "a" and name == "href":
        return bool(_SAFE_LINK.match(value.strip()))
    if tag in ("td", "th") and name in ("colspan", "rowspan"):
        return value.isdigit()
    return False


# --- the iCalendar part --------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    """How the times of one zone are written: in UTC (`Z`), with a TZID, or floating."""

    name: str
    tz: ZoneInfo | None
    """None: a zone the product cannot resolve, written as floating time."""

    @property
    def is_utc(self) -> bool:
        return self.tz is not None and self.tz.key == "UTC"

    @property
    def tzid(self) -> str | None:
        return self.name if self.tz is not None and not self.is_utc else None

    def value(self, wall: datetime) -> datetime:
        """A wall-clock time in this zone as icalendar should write it (naive + TZID param,
        or aware UTC)."""
        return wall.replace(tzinfo=UTC) if self.is_utc else wall

    def params(self) -> dict[str, str]:
        return {"TZID": self.tzid} if self.tzid else {}

    def local(self, instant: datetime) -> datetime:
        """A UTC instant as a wall-clock time in this zone (naive)."""
        assert self.tz is not None
        return instant.astimezone(self.tz).replace(tzinfo=None)


def _clock(name: str) -> _Clock:
    try:
        return _Clock(name, zone(name))
    except UnknownTimeZone:
        log.warning("unknown time zone %r: the message gives its times as floating time", name)
        return _Clock(name, None)


def calendar_text(notification: Notification, attendee: Attendee | None) -> str:
    """The `text/calendar; method=CANCEL|REQUEST` part, made with icalendar. A CANCEL names
    `attendee`; None leaves the place of its line (`_ATTENDEE_MARK`) for `Notice` to fill."""
    method = notification.method
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)

    all_day = notification.is_all_day
    start_clock, end_clock = (
        _clock(notification.start.time_zone),
        _clock(notification.end.time_zone),
    )
    start, end = _wall_clock(notification.start), _wall_clock(notification.end)
    event = icalendar.Event()
    event.add("uid", notification.i_cal_u_id)
    event.add("sequence", notification.sequence)
    event.add("status", "CONFIRMED" if method == "REQUEST" else "CANCELLED")
    event.add("dtstamp", utc(notification.cancelled_at))
    if all_day:
        event.add("dtstart", start.date())
        event.add("dtend", max(end.date(), start.date() + timedelta(days=1)))
    else:
        event.add("dtstart", start_clock.value(start), parameters=start_clock.params())
        event.add("dtend", end_clock.value(end), parameters=end_clock.params())
    if notification.occurrence_id is not None:
        _add_recurrence_id(event, notification, start_clock)
    if method == "REQUEST" and notification.recurrence is not None:
        event.add("rrule", rrule_of(notification.recurrence, all_day, start_clock))
        _add_exdates(event, notification, start_clock)
    event.add("summary", notification.subject)
    if where := _where(notification):
        event.add("location", where)
    if description := _what_to_say(notification):
        event.add("description", description)
    if method == "CANCEL":
        event.add("transp", "TRANSPARENT")
        event.add("x-microsoft-cdo-busystatus", "FREE")
    event.add("organizer", _calendar_address(notification.organizer.email_address))
    for guest in _invited(notification, attendee):
        event.add("attendee", guest)
    calendar.add_component(event)
    if not all_day:
        for clock, wall in ((start_clock, start), (end_clock, end)):
            if clock.tzid and clock.tzid not in {tz["TZID"] for tz in calendar.walk("VTIMEZONE")}:
                calendar.add_component(vtimezone(clock.tzid, wall))
        calendar.subcomponents.sort(key=lambda c: c.name != "VTIMEZONE")  # zones first
    return bytes(calendar.to_ical()).decode("utf-8")


def _add_recurrence_id(event: icalendar.Event, notification: Notification, clock: _Clock) -> None:
    """The occurrence's original start, as the series' DTSTART is written: a date for an
    all-day series, else a wall-clock time in the series' zone (that of `start`)."""
    day = _occurrence_date(notification.occurrence_id or "")
    start = _wall_clock(notification.start)
    if notification.is_all_day:
        event.add("recurrence-id", day or start.date())
        return
    original = notification.original_start
    if original is None:
        wall = start
    elif clock.tz is None:  # no zone to place the instant in: the date it names, at its time
        wall = datetime.combine(day, start.time()) if day else start
    else:
        wall = clock.local(utc(original))
    event.add("recurrence-id", clock.value(wall), parameters=clock.params())


def _add_exdates(event: icalendar.Event, notification: Notification, clock: _Clock) -> None:
    days = sorted({d for oid in notification.cancelled_occurrences if (d := _occurrence_date(oid))})
    if not days:
        return
    if notification.is_all_day:
        event.add("exdate", days)
        return
    at = _wall_clock(notification.start).time()
    values = [clock.value(datetime.combine(day, at)) for day in days]
    event.add("exdate", values, parameters=clock.params())


def _occurrence_date(occurrence_id: str) -> date | None:
    """The local date an occurrence id (`OID.{masterId}.{YYYY-MM-DD}`) names."""
    found = _OCCURRENCE_DATE.search(occurrence_id)
    if found is None:
        return None
    try:
        return date.fromisoformat(found.group(1))
    except ValueError:
        return None


def rrule_of(
    recurrence: PatternedRecurrence, all_day: bool, clock: _Clock | None = None
) -> dict[str, object]:
    """The RRULE of Graph's patternedRecurrence, for a DTSTART that is the first occurrence.

    A relative pattern of one day is `BYDAY=<ordinal><day>`; of several days, `BYDAY` with
    `BYSETPOS` (Graph's index picks among all of them). An end date is the last moment of
    that day: a DATE for an all-day series, else in UTC when DTSTART has a TZID (RFC 5545
    3.3.10), in UTC for a UTC DTSTART, floating for a floating one.
    """
    pattern, span = recurrence.pattern, recurrence.range
    rule: dict[str, object] = {"freq": _FREQ[pattern.type]}
    if pattern.interval != 1:
        rule["interval"] = pattern.interval
    days = [_BYDAY[day] for day in pattern.days_of_week]
    if pattern.type == "weekly":
        rule["byday"] = days
        rule["wkst"] = _BYDAY[pattern.first_day_of_week]
    elif pattern.type in ("relativeMonthly", "relativeYearly"):
        ordinal = _ORDINAL[pattern.index]
        if len(days) == 1:
            rule["byday"] = [f"{ordinal}{days[0]}"]
        else:
            rule["byday"] = days
            rule["bysetpos"] = [ordinal]
    elif pattern.type in ("absoluteMonthly", "absoluteYearly"):
        rule["bymonthday"] = [pattern.day_of_month]
    if pattern.type in ("absoluteYearly", "relativeYearly"):
        rule["bymonth"] = [pattern.month]
    if span.type == "endDate":
        rule["until"] = _until(span.end_date, all_day, clock or _Clock("UTC", zone("UTC")))
    elif span.type == "numbered":
        rule["count"] = span.number_of_occurrences
    return rule


def _until(end_date: date, all_day: bool, clock: _Clock) -> date | datetime:
    if all_day:
        return end_date
    last = datetime.combine(end_date, time(23, 59, 59))
    if clock.tz is None:
        return last
    return last.replace(tzinfo=clock.tz).astimezone(UTC)


def _invited(notification: Notification, attendee: Attendee | None) -> list[icalendar.vCalAddress]:
    """A CANCEL names the one attendee it goes to; a REQUEST every attendee of the meeting
    (RFC 5546 3.2.2), each once and the organizer left out, addresses no mail can go to
    too (they are the meeting's), but never one with a control character."""
    if notification.method == "CANCEL":
        if attendee is None:
            return [icalendar.vCalAddress(_ATTENDEE_MARK.removeprefix("ATTENDEE:").strip())]
        return [_attendee_address(attendee, request=False)]
    return [
        _attendee_address(guest, request=True)
        for guest in recipients(notification)
        if not _CONTROL.search(guest.email_address.address)
    ]


def _attendee_address(attendee: Attendee, request: bool) -> icalendar.vCalAddress:
    guest = _calendar_address(attendee.email_address)
    if attendee.type == "resource":
        guest.params["CUTYPE"] = "RESOURCE"
    guest.params["ROLE"] = _ROLES[attendee.type]
    if request:
        guest.params["PARTSTAT"] = "NEEDS-ACTION"
        guest.params["RSVP"] = "TRUE"
    return guest


def _calendar_address(email: EmailAddress) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email.address.strip()}")
    name = single_line(email.name)
    if name:
        address.params["CN"] = name
    return address


# --- VTIMEZONE -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observance:
    """One STANDARD or DAYLIGHT rule of a zone: from `offset_from` to `offset_to` at a local
    time (in `offset_from`) on the `ordinal`-th (-1: last) `weekday` of `month`; no month
    for a zone with one offset all year."""

    kind: str  # "STANDARD" or "DAYLIGHT"
    name: str
    offset_from: timedelta
    offset_to: timedelta
    month: int = 0
    ordinal: int = 0
    weekday: int = 0  # date.weekday()
    at: time = time()

    def first_onset(self) -> datetime:
        """The onset in 1601 the rule makes (DTSTART is one of its instances, as RFC 5545
        asks); midnight of 1601-01-01 for a zone without rules."""
        if not self.month:
            return datetime(_RULES_SINCE, 1, 1)
        return datetime.combine(
            _nth_weekday(_RULES_SINCE, self.month, self.weekday, self.ordinal), self.at
        )

    def rrule(self) -> dict[str, object] | None:
        if not self.month:
            return None
        return {
            "freq": "YEARLY",
            "bymonth": [self.month],
            "byday": [f"{self.ordinal}{_WEEKDAY_CODES[self.weekday]}"],
        }


def _nth_weekday(year: int, month: int, weekday: int, ordinal: int) -> date:
    days = _calendar.monthrange(year, month)[1]
    if ordinal < 0:
        last = date(year, month, days)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (ordinal - 1))


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta()


@lru_cache(maxsize=256)
def _changes(tz: ZoneInfo, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """Each change of the zone's offset in `year` (UTC): its instant, the offsets before and
    after. Found day by day, then to the second by bisection."""
    begins = datetime(year, 1, 1, tzinfo=UTC)
    try:
        ends = datetime(year + 1, 1, 1, tzinfo=UTC)
    except ValueError:
        ends = datetime(year, 12, 31, 23, 59, tzinfo=UTC)
    changes: list[tuple[datetime, timedelta, timedelta]] = []
    day, before = begins, _offset(tz, begins)
    while day < ends:
        following = min(day + timedelta(days=1), ends)
        after = _offset(tz, following)
        if after != before:
            low, high = day, following  # the change lies in (low, high]
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset(tz, middle) == before:
                    low = middle
                else:
                    high = middle
            changes.append((high.replace(microsecond=0), before, after))
        day, before = following, after
    return tuple(changes)


def observances(tz: ZoneInfo, at: datetime) -> tuple[Observance, ...]:
    """The zone's rules in the year of `at` (a wall-clock time), from zoneinfo: its two
    changes of offset as yearly rules (the change to the larger offset is DAYLIGHT); or, when
    the offset does not go back and forth twice that year, one STANDARD with the offset in
    effect at `at`.

    A change on one of the last seven days of its month is read as "last <weekday>", any
    other as the first to fourth <weekday> (the rules of the EU, the US and most zones are of
    these kinds; a "fourth Sunday" that is also the last one that year reads as "last").
    """
    changes = _changes(tz, at.year)
    if len(changes) != 2 or changes[0][1] != changes[1][2]:
        instant = at.replace(tzinfo=tz)
        offset = instant.utcoffset() or timedelta()
        return (Observance("STANDARD", instant.tzname() or "", offset, offset),)
    rules = []
    for instant, before, after in changes:
        local = (instant + before).replace(tzinfo=None)
        days = _calendar.monthrange(local.year, local.month)[1]
        ordinal = -1 if local.day > days - 7 else (local.day - 1) // 7 + 1
        rules.append(
            Observance(
                kind="DAYLIGHT" if after > before else "STANDARD",
                name=instant.astimezone(tz).tzname() or "",
                offset_from=before,
                offset_to=after,
                month=local.month,
                ordinal=ordinal,
                weekday=local.weekday(),
                at=local.time(),
            )
        )
    return tuple(sorted(rules, key=lambda rule: rule.kind != "STANDARD"))


def vtimezone(tzid: str, at: datetime) -> icalendar.Timezone:
    """The VTIMEZONE of a zone (IANA or Windows name, written as TZID as given) by its rules
    in the year of `at` (wall clock); UnknownTimeZone for a name the product cannot resolve."""
    component = icalendar.Timezone()
    component.add("tzid", tzid)
    for rule in observances(zone(tzid), at):
        part = (
            icalendar.TimezoneDaylight()
            if rule.kind == "DAYLIGHT"
            else icalendar.TimezoneStandard()
        )
        part.add("dtstart", rule.first_onset())
        if (recurrence := rule.rrule()) is not None:
            part.add("rrule", recurrence)
        part.add("tzoffsetfrom", rule.offset_from)
        part.add("tzoffsetto", rule.offset_to)
        if rule.name:
            part.add("tzname", rule.name)
        component.add_component(part)
    return component


# --- times ---------------------------------------------------------------------------------


def utc(stamp: str) -> datetime:
    """A UTC instant written as Graph and the outbox write it ("…Z")."""
    moment_ = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment_ if moment_.tzinfo else moment_.replace(tzinfo=UTC)).astimezone(UTC)


def _wall_clock(value: DateTimeTimeZone) -> datetime:
    return datetime.fromisoformat(value.date_time.removesuffix("Z")).replace(tzinfo=None)
