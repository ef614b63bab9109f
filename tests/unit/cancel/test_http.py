"""Parsing the body of `cancel`, and Graph's error envelope on every refusal."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cancel.http import (
    MAX_BODY_BYTES,
    MAX_COMMENT_UTF16_UNITS,
    CancelParameters,
    graph_error,
    read_comment,
    respond,
)
from shared.calendar.errors import (
    EmptyPayload,
    GraphError,
    ItemNotFound,
    MalformedJson,
    NotOrganizer,
    PayloadTooLarge,
    RequestBodyRead,
    ServiceUnavailable,
)

MALFORMED_MESSAGE = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set "
    "and payload is of valid JSON format."
)
ASTRAL = "\U0001f389"  # 🎉: two UTF-16 code units
URL = "http://localhost:7071/api/me/events/AAMk/cancel"


def request(
    body: bytes | str,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return func.HttpRequest("POST", URL, headers=sent, body=raw)


def comment_of(document: Any, *, ensure_ascii: bool = True) -> str | None:
    return read_comment(request(json.dumps(document, ensure_ascii=ensure_ascii)))


def refused(error: type[GraphError], req: func.HttpRequest) -> GraphError:
    with pytest.raises(error) as raised:
        read_comment(req)
    return raised.value


# What is accepted --------------------------------------------------------------------------------


def test_empty_object_means_no_comment() -> None:
    assert read_comment(request("{}")) is None


@pytest.mark.parametrize("name", ["Comment", "comment", "COMMENT", "cOmMeNt"])
def test_comment_name_matches_in_any_case(name: str) -> None:
    assert comment_of({name: "x"}) == "x"


def test_null_comment_means_no_comment() -> None:
    assert read_comment(request('{"Comment": null}')) is None


def test_empty_string_comment_is_kept() -> None:
    assert comment_of({"Comment": ""}) == ""


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        " application/json ; odata.metadata=minimal",
    ],
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert read_comment(request('{"Comment": "x"}', content_type)) == "x"


def test_whitespace_around_the_object_is_fine() -> None:
    assert read_comment(request(' \r\n\t{"Comment": "x"}\n ')) == "x"


def test_odata_annotation_is_ignored() -> None:
    body = {"@odata.type": "#microsoft.graph.cancelPostRequestBody", "Comment": "x"}

    assert comment_of(body) == "x"


def test_odata_annotation_alone_means_no_comment() -> None:
    assert comment_of({"@odata.type": "#microsoft.graph.cancelPostRequestBody"}) is None


VERBATIM = [
    "Line 1\r\nLine 2\nLine 3\r",
    "<b>bold</b> & <script>alert('x')</script> &amp;",
    f"Party cancelled {ASTRAL} — désolé, 会议取消",
    'quotes " and \\ backslash and \t tab',
    "\u2028\u2029 separators, \u200b zero width, \ufeff bom, \x7f del",
    "   leading and trailing spaces   ",
    "Subject: injected\r\nBcc: everyone@contoso.com",
]


@pytest.mark.parametrize("text", VERBATIM)
@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "raw-utf8"])
def test_comment_is_returned_verbatim(text: str, ensure_ascii: bool) -> None:
    assert comment_of({"Comment": text}, ensure_ascii=ensure_ascii) == text


# Content type and size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/xml",
        "application/jsonx",
        "application/json-patch+json",
        "multipart/form-data; boundary=x",
    ],
)
def test_a_missing_or_non_json_content_type_is_graph_s_400(content_type: str | None) -> None:
    error = refused(MalformedJson, request('{"Comment": "x"}', content_type))

    assert (error.status, error.code) == (400, "BadRequest")
    assert error.message == MALFORMED_MESSAGE


def test_body_at_the_limit_is_read() -> None:
    head = b'{"Comment": "x"}'
    body = head + b" " * (MAX_BODY_BYTES - len(head))

    assert len(body) == MAX_BODY_BYTES
    assert read_comment(request(body)) == "x"


@pytest.mark.parametrize(
    "body",
    [
        b'{"Comment": "x"}' + b" " * MAX_BODY_BYTES,
        b"x" * (MAX_BODY_BYTES + 1),
        b" " * (MAX_BODY_BYTES + 1),
    ],
    ids=["json-padded", "garbage", "whitespace"],
)
def test_body_over_the_limit_is_too_large(body: bytes) -> None:
    error = refused(PayloadTooLarge, request(body))

    assert (error.status, error.code) == (413, "RequestEntityTooLarge")
    assert error.message


def test_limit_is_within_what_the_design_allows() -> None:
    assert 1024 * 1024 <= MAX_BODY_BYTES <= 4 * 1024 * 1024


# Empty and malformed bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b" ", b"\r\n\t  \n"], ids=["empty", "space", "whitespace"])
def test_empty_body_is_empty_payload(body: bytes) -> None:
    error = refused(EmptyPayload, request(body))

    assert error.message == "Empty Payload. JSON content expected."
    assert (error.status, error.code) == (400, "BadRequest")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{", id="unterminated"),
        pytest.param(b"{'Comment': 'x'}", id="single-quotes"),
        pytest.param(b'{"Comment": "x",}', id="trailing-comma"),
        pytest.param(b'{"Comment": "x"} {}', id="two-documents"),
        pytest.param(b'{"Comment": "x"', id="no-close"),
        pytest.param(b'{"Comment": "a\nb"}', id="raw-newline-in-string"),
        pytest.param(b'{"Comment": "\\x41"}', id="bad-escape"),
        pytest.param(b'{"Comment": "\xff"}', id="invalid-utf8"),
        pytest.param(b'{"Comment": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
        pytest.param(b"\xfe\xff\x00{\x00}", id="utf16-bom"),
        pytest.param(b"NaN", id="NaN"),
        pytest.param(b'{"Comment": NaN}', id="NaN-value"),
        pytest.param(b'{"Comment": Infinity}', id="Infinity"),
        pytest.param(b'{"Comment": -Infinity}', id="-Infinity"),
        pytest.param(b"[" * 100_000, id="deep-arrays"),
        pytest.param(b'{"a":' * 100_000, id="deep-objects"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-arrays-closed"),
        pytest.param(b"\x00", id="nul"),
        pytest.param(b"comment=x", id="form"),
    ],
)
def test_malformed_json(body: bytes) -> None:
    error = refused(MalformedJson, request(body))

    assert error.message == MALFORMED_MESSAGE
    assert (error.status, error.code) == (400, "BadRequest")


# Well-formed JSON that is not a cancel body ------------------------------------------------------


@pytest.mark.parametrize("body", ["[]", '"x"', "1", "null", "true", '[{"Comment": "x"}]'])
def test_body_must_be_an_object(body: str) -> None:
    error = refused(RequestBodyRead, request(body))

    assert (error.status, error.code) == (400, "RequestBodyRead")


def test_unknown_parameter_is_named_in_the_message() -> None:
    error = refused(RequestBodyRead, request('{"Foo": 1}'))

    assert error.message == (
        "The parameter 'Foo' in the request payload is not a valid parameter "
        "for the operation 'cancel'."
    )


def test_unknown_parameter_beside_a_comment_is_refused() -> None:
    error = refused(RequestBodyRead, request('{"Comment": "x", "SendResponse": true}'))

    assert "'SendResponse'" in error.message


@pytest.mark.parametrize(
    "body",
    ['{"comment": "a", "Comment": "b"}', '{"Comment": "a", "Comment": "a"}', '{"x": 1, "X": 2}'],
)
def test_duplicate_parameter_is_refused(body: str) -> None:
    error = refused(RequestBodyRead, request(body))

    assert (error.status, error.code) == (400, "RequestBodyRead")


@pytest.mark.parametrize("value", ["5", "true", "false", "{}", "[]", '["x"]', "1.5", '{"a": "x"}'])
def test_comment_must_be_a_string(value: str) -> None:
    error = refused(RequestBodyRead, request('{"Comment": ' + value + "}"))

    assert (error.status, error.code) == (400, "RequestBodyRead")
    assert "Comment" in error.message


# The comment's length, in UTF-16 code units ------------------------------------------------------


def test_limit_is_what_a_table_string_holds() -> None:
    assert MAX_COMMENT_UTF16_UNITS == 32_000


def test_comment_of_32000_bmp_characters_is_accepted() -> None:
    text = "é" * 32_000

    assert comment_of({"Comment": text}, ensure_ascii=False) == text


def test_comment_of_32001_bmp_characters_is_refused() -> None:
    error = refused(RequestBodyRead, request(json.dumps({"Comment": "a" * 32_001})))

    assert (error.status, error.code) == (400, "RequestBodyRead")
    assert "Comment" in error.message


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped-pairs", "raw-utf8"])
def test_comment_of_16000_astral_characters_is_accepted(ensure_ascii: bool) -> None:
    text = ASTRAL * 16_000

    assert comment_of({"Comment": text}, ensure_ascii=ensure_ascii) == text


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped-pairs", "raw-utf8"])
def test_comment_of_16001_astral_characters_is_refused(ensure_ascii: bool) -> None:
    body = json.dumps({"Comment": ASTRAL * 16_001}, ensure_ascii=ensure_ascii)

    refused(RequestBodyRead, request(body))


def test_one_astral_character_past_the_limit_is_refused() -> None:
    refused(RequestBodyRead, request(json.dumps({"Comment": "a" * 31_999 + ASTRAL})))


def test_one_astral_character_at_the_limit_is_accepted() -> None:
    text = "a" * 31_998 + ASTRAL

    assert comment_of({"Comment": text}) == text


@pytest.mark.parametrize(
    "escaped",
    ["\\ud800", "\\udfff", "x\\ud83d", "\\ude00\\ud83d", "\\ud83d\\ud83d"],
)
def test_lone_surrogate_is_refused(escaped: str) -> None:
    error = refused(RequestBodyRead, request('{"Comment": "' + escaped + '"}'))

    assert (error.status, error.code) == (400, "RequestBodyRead")


def test_escaped_surrogate_pair_is_one_character() -> None:
    assert read_comment(request('{"Comment": "\\ud83c\\udf89"}')) == ASTRAL


def test_parameters_model_alone_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match=r"Comment|comment|string"):
        CancelParameters.model_validate({"comment": 5})


# Property ----------------------------------------------------------------------------------------

# Valid Unicode text only: a lone surrogate (category Cs) is refused, and tested as such above.
_CHARACTER = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
comments = st.one_of(
    st.text(alphabet=_CHARACTER, max_size=300),
    st.builds(
        lambda c, n: c * n,
        _CHARACTER,
        st.integers(min_value=0, max_value=16_000),
    ),
)


@settings(database=None, deadline=None, max_examples=150)
@given(
    casing=st.lists(st.booleans(), min_size=7, max_size=7),
    text=comments,
    ensure_ascii=st.booleans(),
)
def test_any_casing_and_any_string_within_the_limit_round_trips(
    casing: list[bool], text: str, ensure_ascii: bool
) -> None:
    name = "".join(c.upper() if up else c for c, up in zip("comment", casing, strict=True))
    assert len(text.encode("utf-16-le")) // 2 <= MAX_COMMENT_UTF16_UNITS

    assert comment_of({name: text}, ensure_ascii=ensure_ascii) == text


# Graph's error envelope --------------------------------------------------------------------------

DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def envelope(response: func.HttpResponse) -> dict[str, Any]:
    document = json.loads(response.get_body())
    assert isinstance(document, dict)
    assert set(document) == {"error"}
    error = document["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert DATE.fullmatch(error["innerError"]["date"])
    return error  # type: ignore[no-any-return]


def test_graph_error_builds_the_envelope() -> None:
    response = graph_error(ItemNotFound(), "rid", "crid")

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = envelope(response)
    assert error["code"] == "ErrorItemNotFound"
    assert error["message"] == "The specified object was not found in the store."
    assert error["innerError"]["request-id"] == "rid"
    assert error["innerError"]["client-request-id"] == "crid"


def test_graph_error_escapes_the_message_as_json() -> None:
    response = graph_error(RequestBodyRead('quote " backslash \\ <tag> \n'), "r", "c")

    assert envelope(response)["message"] == 'quote " backslash \\ <tag> \n'


def raising(error: Exception) -> Callable[[], func.HttpResponse]:
    def action() -> func.HttpResponse:
        raise error

    return action


def test_respond_turns_a_graph_error_into_the_envelope() -> None:
    response = respond(request("{}"), raising(NotOrganizer()))

    assert response.status_code == 400
    error = envelope(response)
    assert error["code"] == "ErrorInvalidRequest"
    assert error["message"] == NotOrganizer.message
    request_id = response.headers["request-id"]
    assert uuid.UUID(request_id)
    assert response.headers["client-request-id"] == request_id
    assert error["innerError"]["request-id"] == request_id
    assert error["innerError"]["client-request-id"] == request_id


def test_respond_echoes_the_client_request_id() -> None:
    client_id = "8d2f0c5e-1234-4abc-9def-0123456789ab"
    req = request("{}", headers={"client-request-id": client_id})

    response = respond(req, raising(ItemNotFound()))

    assert response.headers["client-request-id"] == client_id
    assert response.headers["request-id"] != client_id
    assert envelope(response)["innerError"]["client-request-id"] == client_id
    assert envelope(response)["innerError"]["request-id"] == response.headers["request-id"]


@pytest.mark.parametrize(
    "sent",
    [
        "bad\x00id",
        "bad\x07bell",
        "line\r\nInjected: yes",
        "tab\tinside",
        "caf\u00e9",
        "x" * 129,
        "x" * 60_000,
        " ",
    ],
    ids=["nul", "bell", "crlf", "tab", "non-ascii", "129-chars", "60kb", "blank"],
)
def test_an_insane_client_request_id_is_replaced_by_the_request_id(sent: str) -> None:
    response = respond(request("{}", headers={"client-request-id": sent}), raising(ItemNotFound()))

    request_id = response.headers["request-id"]
    assert response.headers["client-request-id"] == request_id
    assert envelope(response)["innerError"]["client-request-id"] == request_id
    if sent.strip():
        assert sent not in response.get_body().decode()


@pytest.mark.parametrize("sent", ["x" * 128, "a b", "{8d2f0c5e-1234-4abc-9def-0123456789ab}"])
def test_a_printable_client_request_id_up_to_128_characters_is_echoed(sent: str) -> None:
    response = respond(request("{}", headers={"client-request-id": sent}), raising(ItemNotFound()))

    assert response.headers["client-request-id"] == sent


def test_a_503_tells_when_to_retry() -> None:
    response = respond(request("{}"), raising(ServiceUnavailable()))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert envelope(response)["code"] == "ServiceNotAvailable"


def test_other_errors_carry_no_retry_after() -> None:
    response = respond(request("{}"), raising(ItemNotFound()))

    assert "Retry-After" not in response.headers


def test_respond_on_success_carries_the_ids() -> None:
    client_id = "my-client-id"
    req = request("{}", headers={"client-request-id": client_id})

    response = respond(req, lambda: func.HttpResponse(status_code=202))

    assert response.status_code == 202
    assert response.get_body() == b""
    assert uuid.UUID(response.headers["request-id"])
    assert response.headers["client-request-id"] == client_id


def test_respond_without_client_id_on_success_repeats_the_request_id() -> None:
    response = respond(request("{}"), lambda: func.HttpResponse(status_code=202))

    assert response.headers["client-request-id"] == response.headers["request-id"]


def test_each_response_gets_a_new_request_id() -> None:
    first = respond(request("{}"), lambda: func.HttpResponse(status_code=202))
    second = respond(request("{}"), lambda: func.HttpResponse(status_code=202))

    assert first.headers["request-id"] != second.headers["request-id"]


def test_respond_maps_a_body_refusal_to_its_status() -> None:
    req = request("", content_type="text/plain")

    response = respond(req, lambda: func.HttpResponse(str(read_comment(req)), status_code=202))

    assert response.status_code == 400
    assert envelope(response)["message"] == MALFORMED_MESSAGE


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("secret connection string AccountKey=abc"),
        KeyError("route param"),
        ZeroDivisionError("division by zero"),
        RecursionError("maximum recursion depth exceeded"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_unexpected_exception_is_a_500_without_traceback(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cancel.http"):
        response = respond(request("{}"), raising(error))

    assert response.status_code == 500
    body = response.get_body().decode()
    details = envelope(response)
    assert details["code"]
    assert details["message"]
    for leak in ("Traceback", 'File "', type(error).__name__, str(error), "raising", ".py"):
        assert leak not in body
    assert uuid.UUID(response.headers["request-id"])
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
