"""The local Twilio stand-in, over real HTTP: what it refuses, what it keeps, its faults."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.sms_server import sms_server

SID = "AC" + "1" * 32
TOKEN = "secret-token"
FROM = "+15005550006"


@pytest.fixture
def server():
    with sms_server(SID, TOKEN, landlines={"+14155550100"}, opted_out={"+14155550199"}) as s:
        yield s


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base, auth=(SID, TOKEN), timeout=5) as c:
        yield c


MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"


def send(client: httpx.Client, to: str, body: str = "Example Video: sorry.") -> httpx.Response:
    return client.post(MESSAGES, data={"To": to, "From": FROM, "Body": body})


def test_a_message_is_accepted_in_twilios_shape(server, client):
    response = send(client, "+14155550123", "a" * 161)
    assert response.status_code == 201
    message = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message["account_sid"] == SID
    assert (message["to"], message["from"]) == ("+14155550123", FROM)
    assert message["status"] == "queued"
    assert message["num_segments"] == "2"
    assert message["direction"] == "outbound-api"
    assert message["api_version"] == "2010-04-01"
    assert message["date_created"].endswith("+0000")
    assert message["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}.json"
    assert server.accepted[0]["sid"] == message["sid"]
    assert server.posts == 1


def test_a_messaging_service_may_stand_for_the_sender(client):
    response = client.post(
        MESSAGES, data={"To": "+14155550123", "MessagingServiceSid": "MG" + "2" * 32, "Body": "x"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"


@pytest.mark.parametrize(
    "auth", [None, (SID, "wrong"), ("AC" + "9" * 32, TOKEN)], ids=["none", "token", "account"]
)
def test_wrong_credentials_are_refused(server, auth):
    with httpx.Client(base_url=server.base, auth=auth) as other:
        response = send(other, "+14155550123")
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.json()["message"] == "Authenticate"
    assert server.accepted == []


def test_another_account_in_the_path_is_refused(server, client):
    path = MESSAGES.replace(SID, "AC" + "9" * 32)
    response = client.post(path, data={"To": "+14155550123", "From": FROM, "Body": "x"})
    assert response.status_code == 401
    assert server.accepted == []


@pytest.mark.parametrize(
    ("to", "body", "code"),
    [
        ("4155550123", "x", 21211),
        ("+0123456789", "x", 21211),
        ("+1415", "x", 21211),
        ("+14155550100", "x", 21614),
        ("+14155550199", "x", 21610),
        ("+14155550123", "", 21602),
    ],
)
def test_twilios_refusals(server, client, to, body, code):
    response = send(client, to, body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == code
    assert error["status"] == 400
    assert error["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    if code == 21211:
        assert error["message"] == f"The 'To' number {to} is not a valid phone number."
    assert server.accepted == []


def test_a_500_then_success(server, client):
    server.fail_next(500)
    assert send(client, "+14155550123").status_code == 500
    assert server.accepted == []
    assert send(client, "+14155550123").status_code == 201
    assert server.posts == 2
    assert server.by_to() == {"+14155550123": 1}


def test_429_says_when_to_retry(server, client):
    server.fail_next(429, 503)
    first = send(client, "+14155550123")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
    assert send(client, "+14155550123").status_code == 503
    assert send(client, "+14155550123").status_code == 201
    assert len(server.accepted) == 1


def test_drop_keeps_nothing_and_answers_nothing(server, client):
    server.fail_next("drop")
    with pytest.raises(httpx.TransportError):
        send(client, "+14155550123")
    assert server.accepted == []
    assert send(client, "+14155550123").status_code == 201


def test_accept_then_drop_keeps_the_message_once(server, client):
    server.fail_next("accept-then-drop")
    with pytest.raises(httpx.TransportError):
        send(client, "+14155550123")
    assert server.by_to() == {"+14155550123": 1}
    assert server.posts == 1


def test_the_list_is_newest_first_and_filtered_by_to(server, client):
    for to, body in [("+14155550123", "one"), ("+14155550124", "two"), ("+14155550123", "three")]:
        assert send(client, to, body).status_code == 201
    page = client.get(MESSAGES, params={"To": "+14155550123", "PageSize": 20}).json()
    assert [m["body"] for m in page["messages"]] == ["three", "one"]
    assert (page["page"], page["page_size"], page["next_page_uri"]) == (0, 20, None)
    first = client.get(MESSAGES, params={"PageSize": 2}).json()
    assert [m["body"] for m in first["messages"]] == ["three", "two"]
    assert first["next_page_uri"] is not None
    rest = client.get(first["next_page_uri"]).json()
    assert [m["body"] for m in rest["messages"]] == ["one"]
    assert rest["next_page_uri"] is None
