"""`/events/{id}`: an event anywhere in the mailbox of the caller, a user or a group."""

from __future__ import annotations

import azure.functions as func

from cancel import http
from shared.calendar.model import AnyCalendar, GroupMailbox, Me, UserMailbox

bp = func.Blueprint()


@bp.function_name("cancel_me_event")
@bp.route(route="me/events/{id}/cancel", methods=["POST"])
def cancel_me_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, Me(), AnyCalendar())


@bp.function_name("cancel_user_event")
@bp.route(route="users/{user}/events/{id}/cancel", methods=["POST"])
def cancel_user_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, UserMailbox(req.route_params["user"]), AnyCalendar())


@bp.function_name("cancel_group_event")
@bp.route(route="groups/{group}/events/{id}/cancel", methods=["POST"])
def cancel_group_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.cancel(req, GroupMailbox(req.route_params["group"]), AnyCalendar())


@bp.function_name("get_me_event")
@bp.route(route="me/events/{id}", methods=["GET"])
def get_me_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.get(req, Me(), AnyCalendar())


@bp.function_name("get_user_event")
@bp.route(route="users/{user}/events/{id}", methods=["GET"])
def get_user_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.get(req, UserMailbox(req.route_params["user"]), AnyCalendar())


@bp.function_name("get_group_event")
@bp.route(route="groups/{group}/events/{id}", methods=["GET"])
def get_group_event(req: func.HttpRequest) -> func.HttpResponse:
    return http.get(req, GroupMailbox(req.route_params["group"]), AnyCalendar())


@bp.function_name("list_me_event_instances")
@bp.route(route="me/events/{id}/instances", methods=["GET"])
def list_me_event_instances(req: func.HttpRequest) -> func.HttpResponse:
    return http.instances(req, Me(), AnyCalendar())


@bp.function_name("list_user_event_instances")
@bp.route(route="users/{user}/events/{id}/instances", methods=["GET"])
def list_user_event_instances(req: func.HttpRequest) -> func.HttpResponse:
    return http.instances(req, UserMailbox(req.route_params["user"]), AnyCalendar())
