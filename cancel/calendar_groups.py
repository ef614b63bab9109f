"""`/calendargroup(s)/…/calendars/{cal}/events/{id}`: an event of a calendar in a calendar group."""

from __future__ import annotations

import azure.functions as func

from cancel import http
from shared.calendar.model import CalendarInDefaultGroup, CalendarInGroup, Me, UserMailbox

bp = func.Blueprint()


@bp.function_name("cancel_me_calendargroup_event")
@bp.route(route="me/calendargroup/calendars/{cal}/events/{id}/cancel", methods=["POST"])
def cancel_me_calendargroup_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, Me(), CalendarInDefaultGroup(req.route_params["cal"]))


@bp.function_name("cancel_user_calendargroup_event")
@bp.route(route="users/{user}/calendargroup/calendars/{cal}/events/{id}/cancel", methods=["POST"])
def cancel_user_calendargroup_event(req: func.HttpRequest) -> func.HttpResponse:
    mailbox = UserMailbox(req.route_params["user"])
    return http.cancel(req, mailbox, CalendarInDefaultGroup(req.route_params["cal"]))


@bp.function_name("cancel_me_calendargroups_event")
@bp.route(route="me/calendargroups/{grp}/calendars/{cal}/events/{id}/cancel", methods=["POST"])
def cancel_me_calendargroups_event(req: func.HttpRequest) -> func.HttpResponse:
    container = CalendarInGroup(req.route_params["grp"], req.route_params["cal"])
    return http.cancel(req, Me(), container)


@bp.function_name("cancel_user_calendargroups_event")
@bp.route(
    route="users/{user}/calendargroups/{grp}/calendars/{cal}/events/{id}/cancel", methods=["POST"]
)
def cancel_user_calendargroups_event(req: func.HttpRequest) -> func.HttpResponse:
    container = CalendarInGroup(req.route_params["grp"], req.route_params["cal"])
    return http.cancel(req, UserMailbox(req.route_params["user"]), container)
