"""The cancellation one attendee receives: a MIME message with text, HTML and iCalendar parts.

RFC 6047 (iMIP) carrying RFC 5546's CANCEL: `METHOD:CANCEL`, the meeting's `UID` (its
iCalUId), the `SEQUENCE` the cancel incremented, `STATUS:CANCELLED`, the organizer, that one
attendee, and `RECURRENCE-ID` when a single occurrence is cancelled. The stdlib `email`
package writes the headers and refuses CR or LF in any of them; texts from the store are made
single-line first, so a subject with a line break is sent rather than refused. The message is
a pure function of the notification and the recipient (its Date and DTSTAMP are the moment of
the cancel), so a re-sent message is the same message.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import icalendar

from shared.calendar.model import Attendee, DateTimeTimeZone, EmailAddress, Notification
from shared.calendar.recurrence import UnknownTimeZone, zone

log = logging.getLogger(__name__)

CANCELED_PREFIX = "Canceled: "
PRODID = "-//graph-event-cancel//mail worker//EN"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_ROLES = {
    "required": "REQ-PARTICIPANT",
    "optional": "OPT-PARTICIPANT",
    "resource": "NON-PARTICIPANT",
}
_VTIMEZONE_MARGIN = timedelta(days=366)


class InvalidRecipient(ValueError):
    """An attendee address no message can be addressed to: trying again cannot help."""


def canceled_subject(subject: str) -> str:
    """`Canceled: <subject>`, never `Canceled: Canceled: …`."""
    if subject.casefold().startswith(CANCELED_PREFIX.casefold()):
        return subject
    return CANCELED_PREFIX + subject


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
    """The same Message-ID every time this cancellation goes to this recipient, so a receiver
    that sees it twice can tell."""
    seed = f"{notification.mailbox}|{notification.id}|{recipient_key(recipient)}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:40]
    return f"<cancel.{digest}@{domain if _DOMAIN.match(domain) else 'cancel.invalid'}>"


def message_for(notification: Notification, attendee: Attendee) -> EmailMessage:
    """The message for one attendee. InvalidRecipient when the attendee's address is not one."""
    to = mail_address(attendee.email_address)
    try:
        organizer = mail_address(notification.organizer.email_address)
    except InvalidRecipient as error:
        raise ValueError(f"the organizer's address is unusable: {error}") from None
    cancelled_at = utc(notification.cancelled_at)

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = organizer
    message["To"] = to
    message["Subject"] = single_line(canceled_subject(notification.subject))
    message["Date"] = format_datetime(cancelled_at)
    message["Message-ID"] = message_id(notification, to.addr_spec, organizer.domain)
    message.set_content(text_body(notification), cte="quoted-printable")
    message.add_alternative(html_body(notification), subtype="html", cte="quoted-printable")
    message.add_alternative(
        calendar_text(notification, attendee),
        subtype="calendar",
        params={"method": "CANCEL"},
        cte="base64",
    )
    for part in message.iter_parts():
        del part["MIME-Version"]  # add_alternative gives each part one; only the message has it
    message["Content-Class"] = "urn:content-classes:calendarmessage"  # how Outlook spots an iMIP
    return message


def comment_text(notification: Notification) -> str:
    """The comment verbatim, its line breaks as the one kind every format writes its own way."""
    return (notification.comment or "").replace("\r\n", "\n").replace("\r", "\n")


def _headline(notification: Notification) -> str:
    if notification.occurrence_id is not None:
        return "One occurrence of this meeting has been canceled."
    return "This meeting has been canceled."


def _day(moment_: datetime) -> str:
    return f"{moment_:%A, %B} {moment_.day}, {moment_:%Y %H:%M}"


def _when(notification: Notification) -> str:
    start, end = _wall_clock(notification.start), _wall_clock(notification.end)
    until = f"{end:%H:%M}" if end.date() == start.date() else _day(end)
    if notification.end.time_zone != notification.start.time_zone:
        until += f" ({notification.end.time_zone})"
    return f"{_day(start)} - {until} ({notification.start.time_zone})"


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
        f"Organizer: {_organizer(notification)}",
    ]
    comment = comment_text(notification)
    return "\n".join([*lines, "", comment] if comment else lines) + "\n"


def html_body(notification: Notification) -> str:
    def escaped(text: str) -> str:
        return html.escape(text, quote=True).replace("\n", "<br>\n")

    comment = comment_text(notification)
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{escaped(single_line(canceled_subject(notification.subject)))}</title></head>",
        "<body>",
        f"<p>{escaped(_headline(notification))}</p>",
        "<p>",
        f"<b>Subject:</b> {escaped(single_line(notification.subject))}<br>",
        f"<b>When:</b> {escaped(_when(notification))}<br>",
        f"<b>Organizer:</b> {escaped(_organizer(notification))}",
        "</p>",
    ]
    if comment:
        parts.append(f'<div class="comment">{escaped(comment)}</div>')
    return "\n".join([*parts, "</body></html>"]) + "\n"


def calendar_text(notification: Notification, attendee: Attendee) -> str:
    """The `text/calendar; method=CANCEL` part, made with icalendar."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL")

    start, end = moment(notification.start), moment(notification.end)
    event = icalendar.Event()
    event.add("uid", notification.i_cal_u_id)
    event.add("sequence", notification.sequence)
    event.add("status", "CANCELLED")
    event.add("dtstamp", utc(notification.cancelled_at))
    event.add("dtstart", start)
    event.add("dtend", end)
    if notification.occurrence_id is not None:
        original = notification.original_start
        event.add("recurrence-id", utc(original) if original else start)
    event.add("summary", notification.subject)
    comment = comment_text(notification)
    if comment:
        event.add("description", comment)
    event.add("organizer", _calendar_address(notification.organizer.email_address))
    guest = _calendar_address(attendee.email_address)
    guest.params["ROLE"] = _ROLES[attendee.type]
    if attendee.type == "resource":
        guest.params["CUTYPE"] = "RESOURCE"
    event.add("attendee", guest)
    calendar.add_component(event)
    # Only the span the event needs: zoneinfo's full history would make a VTIMEZONE of kilobytes.
    calendar.add_missing_timezones(
        first_date=start.date() - _VTIMEZONE_MARGIN, last_date=end.date() + _VTIMEZONE_MARGIN
    )
    return bytes(calendar.to_ical()).decode("utf-8")


def _calendar_address(email: EmailAddress) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email.address.strip()}")
    name = single_line(email.name)
    if name:
        address.params["CN"] = name
    return address


def utc(stamp: str) -> datetime:
    """A UTC instant written as Graph and the outbox write it ("…Z")."""
    moment_ = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment_ if moment_.tzinfo else moment_.replace(tzinfo=UTC)).astimezone(UTC)


def _wall_clock(value: DateTimeTimeZone) -> datetime:
    return datetime.fromisoformat(value.date_time.removesuffix("Z")).replace(tzinfo=None)


def moment(value: DateTimeTimeZone) -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime in its own zone (Windows names mapped)."""
    try:
        tz = zone(value.time_zone)
    except UnknownTimeZone:
        log.warning("unknown time zone %r: the cancellation gives times in UTC", value.time_zone)
        tz = zone("UTC")
    return _wall_clock(value).replace(tzinfo=tz)
