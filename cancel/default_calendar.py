"""`/calendar/events/{id}`: an event of the default calendar of the caller, a user or a group."""

from __future__ import annotations

import azure.functions as func

from cancel import http
from shared.calendar.model import DefaultCalendar, GroupMailbox, Me, UserMailbox

bp = func.Blueprint()


@bp.function_name("cancel_me_calendar_event")
@bp.route(route="me/calendar/events/{id}/cancel", methods=["POST"])
def cancel_me_calendar_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, Me(), DefaultCalendar())


@bp.function_name("cancel_user_calendar_event")
@bp.route(route="users/{user}/calendar/events/{id}/cancel", methods=["POST"])
def cancel_user_calendar_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, UserMailbox(req.route_params["user"]), DefaultCalendar())


@bp.function_name("cancel_group_calendar_event")
@bp.route(route="groups/{group}/calendar/events/{id}/cancel", methods=["POST"])
def cancel_group_calendar_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, GroupMailbox(req.route_params["group"]), DefaultCalendar())
