"""`/calendars/{cal}/events/{id}`: an event of one named calendar."""

from __future__ import annotations

import azure.functions as func

from cancel import http
from shared.calendar.model import Me, NamedCalendar, UserMailbox

bp = func.Blueprint()


@bp.function_name("cancel_me_calendars_event")
@bp.route(route="me/calendars/{cal}/events/{id}/cancel", methods=["POST"])
def cancel_me_calendars_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, Me(), NamedCalendar(req.route_params["cal"]))


@bp.function_name("cancel_user_calendars_event")
@bp.route(route="users/{user}/calendars/{cal}/events/{id}/cancel", methods=["POST"])
def cancel_user_calendars_event(req: func.HttpRequest) -> func.HttpResponse:
    mailbox = UserMailbox(req.route_params["user"])
    return http.cancel(req, mailbox, NamedCalendar(req.route_params["cal"]))
