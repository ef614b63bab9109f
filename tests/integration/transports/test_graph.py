"""The graph transport against a local HTTPS Entra ID and sendMail (a test CA): MSAL's real
token request, the MIME message as Graph takes it, the token cached across deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.messages.imip import Mail, message_for, recipients
from shared.transports.graph import GraphSettings, GraphTransport
from shared.use_cases.ports import Envelope, RecipientRefused, TransportError
from tests.certificates import CertificateAuthority
from tests.mail_servers import GraphStub
from tests.unit.use_cases.delivery_fakes import ORGANIZER, notification


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path)


@pytest.fixture
def graph(authority: CertificateAuthority) -> Iterator[GraphStub]:
    with GraphStub(authority) as stub:
        yield stub


def trusting(authority: CertificateAuthority) -> requests.Session:
    """A session that trusts the test CA; REQUESTS_CA_BUNDLE would override `verify` otherwise."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(authority.ca_file)
    return session


def transport(
    graph: GraphStub, http: requests.Session, secret: str = GraphStub.client_secret
) -> GraphTransport:
    settings = GraphSettings(
        tenant_id=graph.tenant,
        client_id=graph.client_id,
        client_secret=secret,
        authority_host=graph.origin,
        base_url=f"{graph.origin}/v1.0",
        timeout=10,
    )
    return GraphTransport(settings, http)


def send_all(sender: GraphTransport) -> None:
    item = notification()
    with sender.session() as outgoing:
        for attendee in recipients(item):
            message = Mail.of(message_for(item, attendee))
            outgoing.send(message, Envelope(ORGANIZER, attendee.email_address.address))


def test_each_message_is_sent_as_mime_by_the_organizer_with_an_msal_token(
    graph: GraphStub, authority: CertificateAuthority
) -> None:
    send_all(transport(graph, trusting(authority)))

    (token_request,) = graph.token_requests
    assert token_request["grant_type"] == ["client_credentials"]
    assert token_request["scope"] == [f"{graph.origin}/.default"]
    assert graph.discovery_requests == 1
    assert [sent.organizer for sent in graph.sent] == [ORGANIZER] * 3
    assert {sent.token for sent in graph.sent} == {"app-token-1"}
    messages = [sent.message for sent in graph.sent]
    assert [m["To"].addresses[0].addr_spec for m in messages] == [
        "AlexW@contoso.example",
        "MeganB@contoso.example",
        "pat@fabrikam.example",
    ]
    assert messages[0]["Subject"] == "Canceled: Quarterly planning"
    types = [part.get_content_type() for part in messages[0].iter_parts()]
    assert types == ["text/plain", "text/html", "text/calendar"]


def test_the_token_is_cached_across_deliveries(
    graph: GraphStub, authority: CertificateAuthority
) -> None:
    sender = transport(graph, trusting(authority))
    send_all(sender)
    send_all(sender)

    assert len(graph.token_requests) == 1
    assert len(graph.sent) == 6


def test_a_wrong_secret_is_a_transport_error_naming_the_token_error(
    graph: GraphStub, authority: CertificateAuthority
) -> None:
    with pytest.raises(TransportError, match="graph token: invalid_client"):
        send_all(transport(graph, trusting(authority), secret="wrong"))
    assert graph.sent == []


def test_a_message_graph_refuses_is_refused_alone_and_an_outage_stops_the_delivery(
    graph: GraphStub, authority: CertificateAuthority
) -> None:
    graph.replies = [
        (400, {"error": {"code": "ErrorInvalidRecipients", "message": "no such mailbox"}}),
        (503, {"error": {"code": "ServiceUnavailable", "message": "try later"}}),
    ]
    item = notification()
    message = Mail.of(message_for(item, recipients(item)[0]))
    envelope = Envelope(ORGANIZER, "AlexW@contoso.example")
    with transport(graph, trusting(authority)).session() as outgoing:
        with pytest.raises(RecipientRefused, match="400: ErrorInvalidRecipients: no such mailbox"):
            outgoing.send(message, envelope)
        with pytest.raises(TransportError, match="503: ServiceUnavailable") as raised:
            outgoing.send(message, envelope)
        assert not isinstance(raised.value, RecipientRefused)
        outgoing.send(message, envelope)
    assert len(graph.sent) == 1


def test_a_server_certificate_from_an_untrusted_ca_fails(graph: GraphStub, tmp_path: Path) -> None:
    stranger = CertificateAuthority(tmp_path / "other")
    with pytest.raises(TransportError, match="graph token"):
        send_all(transport(graph, trusting(stranger)))
    assert graph.token_requests == []


def test_missing_credentials_are_refused_when_the_transport_is_built() -> None:
    with pytest.raises(ValueError, match="GRAPH_CLIENT_SECRET"):
        GraphTransport(GraphSettings(tenant_id="t", client_id="c", client_secret=""))
