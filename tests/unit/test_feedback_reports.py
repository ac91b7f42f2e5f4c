"""Bounces and complaints, read from the samples in tests/data/feedback: every sample gives
exactly the outcomes listed here, under either email policy and with either line ending."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
from pathlib import Path

import pytest

from makegood.messaging.feedback_events import SnsConfirmation, from_event, sns_confirmations
from makegood.messaging.feedback_reports import Feedback, FeedbackError, from_email

DATA = Path(__file__).resolve().parents[1] / "data" / "feedback"
POLICIES = {"default": email.policy.default, "compat32": email.policy.compat32}

EMAILS: dict[str, list[Feedback]] = {
    "postfix_hard_bounce.eml": [
        Feedback(
            "hard_bounce",
            "no.such.user@example.org",
            "Ab3dE_f9",
            "5.1.1",
            "550 5.1.1 <No.Such.User@Example.org>: Recipient address rejected: "
            "User unknown in virtual mailbox table",
            "<makegood.c12.m345@example.com>",
        )
    ],
    "gmail_two_recipients.eml": [
        Feedback(
            "hard_bounce",
            "gone@example.org",
            "Gm41L_x-9",
            "5.1.1",
            "550-5.1.1 The account you addressed does not exist here. Check the spelling "
            "of the address and try again. q7si4512345qtx.12 - esmtp",
            "<makegood.c12.m346@example.com>",
        )
    ],
    "exchange_ndr.eml": [
        Feedback(
            "hard_bounce",
            "casey.missing@example.org",
            "EX-ndr_77",
            "5.1.10",
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "<makegood.c12.m347@example.com>",
        )
    ],
    "delayed_4.4.7.eml": [
        Feedback(
            "soft_bounce",
            "slow@example.org",
            "Dly_447",
            "4.4.7",
            "451 4.4.7 Message delayed, remote host not answering",
            "<makegood.c12.m348@example.com>",
        )
    ],
    "mailbox_full_4.2.2.eml": [
        Feedback(
            "soft_bounce",
            "hoarder@example.org",
            "Fu11_box",
            "4.2.2",
            "452 4.2.2 <hoarder@example.org>: Mailbox full",
            "<makegood.c12.m349@example.com>",
        )
    ],
    "exim_permanent.eml": [
        Feedback(
            "hard_bounce",
            "lost@example.org",
            "Ex1m_Tok",
            "5.1.1",
            "host mail.example.org [198.51.100.7] SMTP error from remote mail server after "
            "RCPT TO:<lost@example.org>: 550 5.1.1 <lost@example.org>: Recipient address "
            "rejected: User unknown",
            "<makegood.c12.m350@example.com>",
        )
    ],
    "qmail_bounce.eml": [
        Feedback(
            "hard_bounce",
            "nobody@example.org",
            "Qm41l-0",
            "5.1.1",
            "198.51.100.30 does not like recipient. Remote host said: 550 sorry, no mailbox "
            "here by that name. (#5.1.1) Giving up on 198.51.100.30.",
            "<makegood.c12.m351@example.com>",
        )
    ],
    "arf_abuse.eml": [
        Feedback(
            "complaint",
            "angry.customer@example.net",
            "Arf_ab-1",
            "",
            "abuse",
            "<makegood.c12.m400@example.com>",
        )
    ],
    "arf_minimal.eml": [
        Feedback(
            "complaint",
            "dana@example.org",
            "MinArf_2",
            "",
            "abuse",
            "<makegood.c12.m401@example.com>",
        )
    ],
    "vacation_auto_replied.eml": [],
    "outlook_automatic_reply.eml": [],
    "human_reply.eml": [],
    "human_mentions_550.eml": [],
    "dsn_delivered.eml": [],
}

EVENTS: dict[str, list[Feedback]] = {
    "ses_bounce_permanent.json": [
        Feedback(
            "hard_bounce",
            "former.customer@example.org",
            "Ses_P1",
            "5.1.1",
            "550 5.1.1 user unknown",
            "0100018e2f3a4b5c-1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b-000000",
        ),
        Feedback(
            "hard_bounce",
            "old@example.net",
            "Ses_P1",
            "",
            "Permanent General",
            "0100018e2f3a4b5c-1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b-000000",
        ),
    ],
    "ses_complaint_sns.json": [
        Feedback(
            "complaint",
            "riley@example.net",
            "Ses_C2",
            "",
            "abuse",
            "0100018e2f3f9a8b-2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d-000000",
        )
    ],
    "sendgrid_events.json": [
        Feedback(
            "hard_bounce",
            "nobody.home@example.org",
            None,
            "5.1.1",
            "550 5.1.1 The email account that you tried to reach does not exist.",
            "<makegood.c12.m601@example.com>",
        ),
        Feedback(
            "soft_bounce",
            "busy@example.net",
            None,
            "4.3.2",
            "451 4.3.2 Too many connections, try again later",
            "<makegood.c12.m602@example.com>",
        ),
        Feedback(
            "complaint",
            "annoyed@example.com",
            None,
            "",
            "spamreport",
            "<makegood.c12.m604@example.com>",
        ),
    ],
    "mailgun_failed_permanent.json": [
        Feedback(
            "hard_bounce",
            "gone.away@example.org",
            "Mg_perm1",
            "5.1.1",
            "5.1.1 The email account that you tried to reach does not exist.",
            "<makegood.c12.m700@example.com>",
        )
    ],
    "mailgun_failed_temporary.json": [
        Feedback(
            "soft_bounce",
            "full.box@example.net",
            "Mg_temp2",
            "4.2.2",
            "4.2.2 The email account that you tried to reach is over quota.",
            "<makegood.c12.m701@example.com>",
        )
    ],
    "postmark_bounce.json": [
        Feedback(
            "hard_bounce",
            "jordan@example.org",
            None,
            "5.1.1",
            "550 5.1.1 The email account that you tried to reach does not exist.",
            "9a1e6c2b-3f4d-4e5a-8b7c-0d1e2f3a4b5c",
        )
    ],
    "postmark_spam.json": [
        Feedback(
            "complaint",
            "quinn@example.net",
            None,
            "",
            "The subscriber explicitly marked this message as spam.",
            "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b",
        )
    ],
}


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse(data: bytes, policy: str = "default") -> email.message.Message:
    return email.message_from_bytes(data, policy=POLICIES[policy])


def event(name: str) -> object:
    return json.loads(raw(name))


def edited(name: str, old: str, new: str) -> bytes:
    data = raw(name)
    assert old.encode() in data
    return data.replace(old.encode(), new.encode())


def test_every_sample_is_listed() -> None:
    on_disk = {path.name for path in DATA.iterdir()}
    assert on_disk == set(EMAILS) | set(EVENTS) | {"malformed_missing_recipient.json"}


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("name", sorted(EMAILS))
def test_email_samples(name: str, policy: str) -> None:
    assert from_email(parse(raw(name), policy)) == EMAILS[name]


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("name", sorted(EMAILS))
def test_crlf_line_endings(name: str, policy: str) -> None:
    data = raw(name)
    assert b"\r\n" not in data
    assert from_email(parse(data.replace(b"\n", b"\r\n"), policy)) == EMAILS[name]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_event_samples(name: str) -> None:
    assert from_event(event(name)) == EVENTS[name]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_events_as_json_text(name: str) -> None:
    assert from_event(raw(name)) == EVENTS[name]
    assert from_event(raw(name).decode()) == EVENTS[name]


def test_malformed_sample_names_the_event() -> None:
    with pytest.raises(FeedbackError, match=r"^event 1: no recipient$"):
        from_event(event("malformed_missing_recipient.json"))


def test_the_prefix_is_configurable() -> None:
    message = parse(raw("postfix_hard_bounce.eml").replace(b"bounce+", b"returns+"))
    [feedback] = from_email(message, prefix="returns")
    assert feedback.token == "Ab3dE_f9"
    [feedback] = from_email(message)  # the default prefix no longer matches
    assert feedback.token is None
    assert feedback.recipient == "no.such.user@example.org"
    payload = event("ses_bounce_permanent.json")
    assert [f.token for f in from_event(payload, prefix="returns")] == [None, None]
    text = raw("mailgun_failed_permanent.json").replace(b"bounce+", b"Returns+")
    assert [f.token for f in from_event(text, prefix="returns")] == ["Mg_perm1"]


def test_prefix_must_be_the_whole_local_part() -> None:
    data = raw("postfix_hard_bounce.eml").replace(b"bounce+Ab3dE_f9@", b"xbounce+Ab3dE_f9@")
    assert [f.token for f in from_email(parse(data))] == [None]
    long_token = "a" * 101
    data = raw("postfix_hard_bounce.eml").replace(b"Ab3dE_f9", long_token.encode())
    assert [f.token for f in from_email(parse(data))] == [None]
    data = raw("postfix_hard_bounce.eml").replace(b"Ab3dE_f9", b"a" * 100)
    assert [f.token for f in from_email(parse(data))] == ["a" * 100]


def test_token_falls_back_to_the_included_return_path() -> None:
    data = raw("arf_abuse.eml")
    assert b"To: fbl-reports@example.com" in data  # the report itself does not name it
    data = edited("exim_permanent.eml", "To: bounce+Ex1m_Tok@", "To: someone.else@")
    data = data.replace(b"Envelope-to: bounce+Ex1m_Tok@", b"Envelope-to: someone.else@")
    assert [f.token for f in from_email(parse(data))] == ["Ex1m_Tok"]


def test_arf_token_from_original_mail_from_when_the_original_has_no_return_path() -> None:
    data = edited(
        "arf_abuse.eml", "Return-Path: <bounce+Arf_ab-1@bounces.example.com>\nReceived", "Received"
    )
    [feedback] = from_email(parse(data))
    assert feedback.token == "Arf_ab-1"


def test_arf_without_any_recipient_keeps_the_token() -> None:
    data = edited("arf_minimal.eml", "To: Dana Moss <Dana@example.org>", "To: redacted")
    assert from_email(parse(data)) == [
        Feedback("complaint", "", "MinArf_2", "", "abuse", "<makegood.c12.m401@example.com>")
    ]


@pytest.mark.parametrize("feedback_type", ["not-spam", "virus", "auth-failure"])
def test_arf_types_that_are_not_complaints(feedback_type: str) -> None:
    data = edited("arf_abuse.eml", "Feedback-Type: abuse", f"Feedback-Type: {feedback_type}")
    assert from_email(parse(data)) == []


@pytest.mark.parametrize("feedback_type", ["fraud", "other"])
def test_arf_types_that_are_complaints(feedback_type: str) -> None:
    data = edited("arf_abuse.eml", "Feedback-Type: abuse", f"Feedback-Type: {feedback_type}")
    [feedback] = from_email(parse(data))
    assert (feedback.kind, feedback.detail) == ("complaint", feedback_type)


def test_a_person_quoting_a_bounce_is_not_a_bounce() -> None:
    data = raw("human_mentions_550.eml")
    assert b"550 5.1.1" in data and b"The following address(es) failed" in data
    message = parse(data)
    assert from_email(message) == []
    assert from_email(message, prefix="bounce") == []


def test_the_same_text_from_a_mailer_daemon_is_a_bounce() -> None:
    data = edited(
        "human_mentions_550.eml",
        "From: Alex Kim <alex.kim@example.net>",
        "From: MAILER-DAEMON@mx.example.net",
    )
    [feedback] = from_email(parse(data))
    assert (feedback.kind, feedback.recipient, feedback.status) == (
        "hard_bounce",
        "colleague@example.org",
        "5.1.1",
    )


def test_bounce_text_from_a_person_is_ignored() -> None:
    data = edited(
        "exim_permanent.eml",
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "From: Lee <lee@example.net>",
    )
    data = data.replace(b"Return-path: <>", b"Return-path: <lee@example.net>")
    assert from_email(parse(data)) == []


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: We're sorry",
        "Automatic reply: We're sorry",
        "Auto: We're sorry",
        "Abwesenheitsnotiz: We're sorry",
        "=?utf-8?q?R=C3=A9ponse_automatique=3A_We're_sorry?=",
    ],
)
def test_auto_reply_subjects_veto_even_a_daemon(subject: str) -> None:
    data = edited(
        "exim_permanent.eml",
        "Subject: Mail delivery failed: returning message to sender",
        f"Subject: {subject}",
    )
    for policy in POLICIES:
        assert from_email(parse(data, policy)) == []


@pytest.mark.parametrize(
    "header", ["X-Autoreply: yes", "X-Autorespond: on", "Precedence: auto_reply"]
)
def test_auto_reply_headers_veto_a_text_bounce(header: str) -> None:
    data = edited("exim_permanent.eml", "Auto-Submitted: auto-replied", header)
    assert from_email(parse(data)) == []


def test_auto_submitted_from_a_person_with_bounce_words_is_still_a_vacation_reply() -> None:
    body = raw("exim_permanent.eml").split(b"\n\n", 1)[1]
    head = raw("vacation_auto_replied.eml").split(b"\n\n", 1)[0]
    assert b"Return-Path: <>" in head and b"Auto-Submitted: auto-replied" in head
    assert from_email(parse(head + b"\n\n" + body)) == []
    # Without the Auto-Submitted header an empty return path is enough to believe it.
    plain = head.replace(b"Auto-Submitted: auto-replied (vacation)\n", b"")
    assert [f.recipient for f in from_email(parse(plain + b"\n\n" + body))] == ["lost@example.org"]


def test_report_structure_wins_over_auto_reply_markers() -> None:
    data = edited(
        "postfix_hard_bounce.eml",
        "Subject: Undelivered Mail Returned to Sender",
        "Subject: Automatic reply: undelivered\nX-Autoreply: yes",
    )
    assert from_email(parse(data)) == EMAILS["postfix_hard_bounce.eml"]


def test_delivery_status_part_labelled_text_plain() -> None:
    data = edited(
        "postfix_hard_bounce.eml",
        "Content-Type: message/delivery-status",
        "Content-Type: text/plain",
    )
    for policy in POLICIES:
        assert from_email(parse(data, policy)) == EMAILS["postfix_hard_bounce.eml"]


def test_delivery_status_payload_given_as_a_string() -> None:
    report = email.message.Message()
    report["From"] = "MAILER-DAEMON@mx.example.net"
    report["To"] = "bounce+Str_1@bounces.example.com"
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    notice = email.message.Message()
    notice.set_payload("Your message could not be delivered.\n")
    status = email.message.Message()
    status.set_type("message/delivery-status")
    status.set_payload(
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.2.1\n\n"
        "Final-Recipient: rfc822; b@example.org\nAction: delayed\nStatus: 4.4.1\n"
    )
    report.set_payload([notice, status])
    assert isinstance(status.get_payload(), str)
    assert from_email(report) == [
        Feedback("hard_bounce", "a@example.org", "Str_1", "5.2.1"),
        Feedback("soft_bounce", "b@example.org", "Str_1", "4.4.1"),
    ]


def test_global_delivery_status_is_read_too() -> None:
    data = edited(
        "postfix_hard_bounce.eml",
        "Content-Type: message/delivery-status",
        "Content-Type: message/global-delivery-status",
    )
    for policy in POLICIES:
        assert from_email(parse(data, policy)) == EMAILS["postfix_hard_bounce.eml"]


def test_a_bounce_forwarded_as_an_attachment_is_not_a_bounce() -> None:
    forwarded = (
        b"From: Sam Rivera <sam.rivera@example.org>\n"
        b"To: bounce+Fwd_1@bounces.example.com\n"
        b"Subject: Fwd: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="fwd"\n\n'
        b"--fwd\nContent-Type: text/plain\n\nThis came back, is my address wrong?\n\n"
        b"--fwd\nContent-Type: message/rfc822\n\n" + raw("postfix_hard_bounce.eml") + b"\n--fwd--\n"
    )
    for policy in POLICIES:
        assert from_email(parse(forwarded, policy)) == []


def test_arf_with_two_original_recipients() -> None:
    data = edited(
        "arf_abuse.eml",
        "Original-Rcpt-To: <Angry.Customer@example.net>",
        "Original-Rcpt-To: <Angry.Customer@example.net>\nOriginal-Rcpt-To: second@example.net",
    )
    assert [f.recipient for f in from_email(parse(data))] == [
        "angry.customer@example.net",
        "second@example.net",
    ]


def test_dsn_without_status_uses_the_diagnostic_code() -> None:
    data = edited("postfix_hard_bounce.eml", "Status: 5.1.1\n", "")
    [feedback] = from_email(parse(data))
    assert (feedback.kind, feedback.status) == ("hard_bounce", "5.1.1")


def test_detail_is_one_line_of_at_most_500_characters() -> None:
    long_text = "very " * 200
    data = edited(
        "mailbox_full_4.2.2.eml", "Mailbox full\n", f"Mailbox full\n {long_text}\n\t{long_text}\n"
    )
    [feedback] = from_email(parse(data))
    assert len(feedback.detail) == 500
    assert "\n" not in feedback.detail and "  " not in feedback.detail
    assert feedback.detail.startswith("452 4.2.2 <hoarder@example.org>: Mailbox full very very")


EXIM_DELAY = b"""Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: bounce+Wait_4@bounces.example.com
Subject: Warning: message 1rkUaa-000Xyz-1q delayed 24 hours
Auto-Submitted: auto-replied
X-Failed-Recipients: patient@example.org

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.net.

The address to which the message has not yet been delivered is:

  patient@example.org
    Delay reason: SMTP error from remote mail server after RCPT TO:<patient@example.org>:
    451 Greylisted, please come back later

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals.
"""


def test_exim_delay_warning_is_a_soft_bounce() -> None:
    [feedback] = from_email(parse(EXIM_DELAY))
    assert feedback == Feedback(
        "soft_bounce",
        "patient@example.org",
        "Wait_4",
        "4.0.0",
        "Delay reason: SMTP error from remote mail server after RCPT TO:<patient@example.org>: "
        "451 Greylisted, please come back later",
    )


def test_text_bounce_without_codes_decides_by_its_words() -> None:
    permanent = edited(
        "exim_permanent.eml",
        "    550 5.1.1 <lost@example.org>: Recipient address rejected: User unknown\n",
        "",
    )
    [feedback] = from_email(parse(permanent))
    assert (feedback.kind, feedback.status) == ("hard_bounce", "")
    temporary = EXIM_DELAY.replace(b"    451 Greylisted, please come back later\n", b"")
    [feedback] = from_email(parse(temporary))
    assert (feedback.kind, feedback.status) == ("soft_bounce", "")


# --- Webhook details beyond the samples ---------------------------------------------------


def ses(kind: str, body: object) -> dict[str, object]:
    return {
        "notificationType": kind,
        kind.lower(): body,
        "mail": {"source": "bounce+T0k@bounces.example.com", "messageId": "m-1"},
    }


@pytest.mark.parametrize(
    ("bounce_type", "kind"),
    [("Transient", "soft_bounce"), ("Undetermined", "soft_bounce"), ("Permanent", "hard_bounce")],
)
def test_ses_bounce_types(bounce_type: str, kind: str) -> None:
    payload = ses(
        "Bounce",
        {"bounceType": bounce_type, "bouncedRecipients": [{"emailAddress": "x@example.org"}]},
    )
    [feedback] = from_event(payload)
    assert (feedback.kind, feedback.recipient, feedback.token, feedback.message_id) == (
        kind,
        "x@example.org",
        "T0k",
        "m-1",
    )


def test_ses_event_publishing_shape_and_skipped_types() -> None:
    payload = ses(
        "Bounce",
        {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "y@example.org"}]},
    )
    payload["eventType"] = payload.pop("notificationType")
    assert [f.kind for f in from_event(payload)] == ["hard_bounce"]
    assert from_event({"eventType": "Delivery", "mail": {}, "delivery": {}}) == []
    assert (
        from_event(
            ses(
                "Complaint",
                {
                    "complaintFeedbackType": "not-spam",
                    "complainedRecipients": [{"emailAddress": "z@example.org"}],
                },
            )
        )
        == []
    )


def test_sns_control_messages_are_skipped() -> None:
    assert (
        from_event(
            {
                "Type": "SubscriptionConfirmation",
                "Message": "You have chosen to subscribe",
                "SubscribeURL": "https://sns.example.com/",
            }
        )
        == []
    )


SUBSCRIBE = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336"


def test_sns_subscription_confirmations_are_found_in_one_or_many_events() -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:feedback",
        "Message": "You have chosen to subscribe",
        "SubscribeURL": SUBSCRIBE,
    }
    found = SnsConfirmation("arn:aws:sns:us-west-2:123456789012:feedback", SUBSCRIBE, "165545c9")
    assert sns_confirmations(confirmation) == [found]
    assert sns_confirmations(json.dumps([{"event": "open"}, confirmation])) == [found]
    assert sns_confirmations({**confirmation, "Type": "UnsubscribeConfirmation"}) == []
    assert sns_confirmations({**confirmation, "Type": "Notification"}) == []
    assert sns_confirmations({**confirmation, "SubscribeURL": None}) == []
    assert sns_confirmations(42) == []


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (SUBSCRIBE, True),
        ("https://sns.eu-central-1.amazonaws.com/?Action=ConfirmSubscription", True),
        ("HTTPS://SNS.us-east-1.AmazonAWS.com/", True),  # the same host in capitals
        ("http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", False),
        ("https://amazonaws.com/", False),
        ("https://sns.us-west-2.amazonaws.com.example.net/", False),
        ("https://evilamazonaws.com/", False),
        ("https://sns.us-west-2.amazonaws.com:8443/", False),
        ("https://user@sns.us-west-2.amazonaws.com/", False),
        ("https://example.net\\@sns.us-west-2.amazonaws.com/", False),
        ("https://example.net\\.amazonaws.com/", False),
        ("https://sns.us-west-2.amazonaws.com/\nLocation: https://example.net/", False),
        ("javascript:alert(1)//.amazonaws.com", False),
        ("", False),
    ],
)
def test_only_https_subscribe_urls_on_amazonaws_com_are_kept(url: str, kept: bool) -> None:
    event = {"Type": "SubscriptionConfirmation", "Message": "", "SubscribeURL": url}
    assert bool(sns_confirmations(event)) is kept


def test_sendgrid_kinds() -> None:
    events = [
        {"event": "bounce", "type": "blocked", "email": "a@example.org", "status": "5.7.1"},
        {"event": "dropped", "email": "b@example.org", "reason": "Bounced Address"},
        {"event": "dropped", "email": "c@example.org", "reason": "Unsubscribed Address"},
        {"event": "click", "email": "d@example.org", "url": "https://example.com/"},
    ]
    assert [(f.kind, f.recipient) for f in from_event(events)] == [
        ("soft_bounce", "a@example.org"),
        ("hard_bounce", "b@example.org"),
    ]


def test_mailgun_complaint_and_skipped_events() -> None:
    complaint = {
        "event-data": {
            "event": "complained",
            "recipient": "M@example.org",
            "message": {"headers": {"message-id": "x@example.com"}},
        }
    }
    assert from_event(complaint) == [
        Feedback("complaint", "m@example.org", None, "", "complained", "<x@example.com>")
    ]
    assert from_event({"event-data": {"event": "delivered", "recipient": "m@example.org"}}) == []


def test_postmark_types() -> None:
    record = {"RecordType": "Bounce", "Email": "p@example.org", "Details": "421 4.4.2 timeout"}
    assert [f.kind for f in from_event({**record, "Type": "Transient"})] == ["soft_bounce"]
    assert [f.status for f in from_event({**record, "Type": "SoftBounce"})] == ["4.4.2"]
    assert from_event({**record, "Type": "AutoResponder"}) == []
    assert from_event({"RecordType": "Delivery", "Recipient": "p@example.org"}) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (42, r"^payload: expected a JSON object or list, not int$"),
        ("{not json", r"^payload: not JSON"),
        (
            [{"event": "delivered", "email": "a@example.org"}, "bounce"],
            r"^event 1: expected an object, not str$",
        ),
        ({"hello": "world"}, r"^event 0: not an event of a known provider \(keys: hello\)$"),
        ({"Type": "Notification", "Message": "{oops"}, r"^event 0: Message: not JSON"),
        (
            ses("Bounce", {"bounceType": "Permanent", "bouncedRecipients": []}),
            r"^event 0: no recipient \(bouncedRecipients is missing or empty\)$",
        ),
        (
            ses("Bounce", {"bounceType": "Permanent", "bouncedRecipients": [{"status": "5.1.1"}]}),
            r"^event 0: bouncedRecipients\[0\]: no recipient$",
        ),
        (ses("Bounce", "Permanent"), r"^event 0: bounce: expected an object, not str$"),
        ([{}, {"event": "spamreport", "email": "not an address"}], r"^event 0: not an event"),
        (
            [{"event": "spamreport", "email": "not an address"}],
            r"^event 0: recipient 'not an address' is not an email address$",
        ),
        ({"event-data": {"event": "failed", "severity": "permanent"}}, r"^event 0: no recipient$"),
        ({"RecordType": "Bounce", "Type": "HardBounce"}, r"^event 0: no recipient$"),
    ],
)
def test_unreadable_payloads_name_the_place(payload: object, message: str) -> None:
    with pytest.raises(FeedbackError, match=message):
        from_event(payload)


def test_feedback_error_is_a_value_error() -> None:
    assert issubclass(FeedbackError, ValueError)
