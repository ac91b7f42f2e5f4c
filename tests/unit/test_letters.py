"""What a customer reads: local words for time, locale money, safe HTML and headers."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from makegood.config import CompanySettings
from makegood.messaging import mime, wording
from makegood.messaging.letters import LetterFacts, Shipment, compose, money
from makegood.messaging.rendering import KINDS, Renderer, RenderError

LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "pt-BR", "ja-JP")
# 21:30 on Sunday 23 March 2008 in Los Angeles is 13:30 on Monday in Tokyo.
OUTAGE_START = datetime(2008, 3, 24, 4, 30, tzinfo=UTC)
OUTAGE_END = datetime(2008, 3, 24, 7, 0, tzinfo=UTC)
RENDERER = Renderer()

FACTS = LetterFacts(
    kind="automatic_credit",
    first_name="Sam",
    email="sam@example.com",
    locale="en-US",
    timezone="America/Los_Angeles",
    country="US",
    incident_title="Shipping down",
    incident_summary="Our shipping system was down, so many orders left late.",
    incident_start=datetime(2008, 3, 24, 14, tzinfo=UTC),
    incident_end=datetime(2008, 3, 25, 2, tzinfo=UTC),
    amount_minor=45,
    currency="USD",
    percent=Decimal(5),
    statement_date=date(2008, 4, 3),
    expires_at=datetime(2008, 4, 1, 16, tzinfo=UTC),
    claim_url="https://video.example.com/claim/abc",
    sent_at=datetime(2008, 3, 25, 16, tzinfo=UTC),
    shipments=(Shipment("A-1", datetime(2008, 3, 24, 20, tzinfo=UTC), None),),
    correction="close",  # read by correction notices only
)


def test_the_same_instant_is_last_night_in_los_angeles_and_yesterday_in_tokyo():
    # Read at 09:00 in Los Angeles, 01:00 the next night in Tokyo.
    sent = datetime(2008, 3, 24, 16, 0, tzinfo=UTC)
    la = wording.when(OUTAGE_START, OUTAGE_END, sent, "America/Los_Angeles", "en-US")
    tokyo = wording.when(OUTAGE_START, OUTAGE_END, sent, "Asia/Tokyo", "en-US")
    assert (la, tokyo) == ("last night", "yesterday")
    # Read an hour after the outage, Tokyo's afternoon is still today.
    soon = datetime(2008, 3, 24, 8, 0, tzinfo=UTC)
    assert wording.when(OUTAGE_START, OUTAGE_END, soon, "Asia/Tokyo", "en-US") == "this afternoon"


@pytest.mark.parametrize(
    ("tag", "days_later", "expected"),
    [
        ("en-US", 3, "on Monday"),
        ("de-DE", 3, "am Montag"),
        ("fr-FR", 3, "lundi"),
        ("es-ES", 3, "el lunes"),
        ("pt-BR", 3, "na segunda-feira"),
        ("ja-JP", 3, "月曜日"),
        ("en-US", 12, "on Monday, March 24, 2008"),
        ("en-GB", 12, "on Monday, 24 March 2008"),
        ("de-DE", 1, "gestern"),
        ("es-ES", 1, "ayer"),
    ],
)
def test_older_days_are_named_by_weekday_then_by_date_in_the_readers_language(
    tag, days_later, expected
):
    monday_noon = datetime(2008, 3, 24, 12, tzinfo=UTC)  # a long outage: named by day
    sent = (
        datetime(2008, 3, 24 + days_later, 12, tzinfo=UTC)
        if days_later < 8
        else datetime(2008, 4, 5, 12, tzinfo=UTC)
    )
    assert wording.when(monday_noon, None, sent, "Europe/London", tag) == expected


def test_portuguese_weekends_take_their_own_article():
    saturday = datetime(2008, 3, 29, 12, tzinfo=UTC)
    sent = datetime(2008, 4, 1, 12, tzinfo=UTC)
    assert wording.when(saturday, None, sent, "America/Sao_Paulo", "pt-BR") == "no sábado"


def test_money_follows_the_currency_exponent_and_the_locale():
    assert money(45, "USD", "en-US") == "$0.45"
    assert money(70, "JPY", "ja-JP") == "￥70"
    assert money(195, "BHD", "en-US") == "BHD0.195"
    assert money(45, "EUR", "de-DE") == "0,45\xa0€"


@pytest.mark.parametrize("tag", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_locale_renders_both_kinds_with_its_own_templates(tag, kind):
    letter = compose(RENDERER, dataclasses.replace(FACTS, kind=kind, locale=tag), CompanySettings())
    assert letter.locale == tag
    assert "\n" not in letter.subject and letter.subject
    assert "1-800-555-0100" in letter.text and "1-800-555-0100" in letter.html
    assert f'lang="{tag}"' in letter.html and "<script" not in letter.html.lower()
    if kind == "claim_offer":
        # The button, and the plain link beneath it for clients that hide buttons.
        assert letter.html.count('href="https://video.example.com/claim/abc"') == 2
    # No first name: a greeting still opens the letter, and nothing says "None".
    anonymous = compose(
        RENDERER,
        dataclasses.replace(FACTS, kind=kind, locale=tag, first_name=""),
        CompanySettings(),
    )
    assert "None" not in anonymous.text and anonymous.text.strip()


EVERY_LOCALE = sorted(
    p.name
    for p in (Path(mime.__file__).parent / "templates").iterdir()
    if (p / "claim_offer.txt").exists()
)


@pytest.mark.parametrize("tag", EVERY_LOCALE)
def test_claim_letters_name_the_signed_in_site_only_when_it_is_set(tag):
    site = "https://video.example.com/account?from=mail&x=<b>"
    facts = dataclasses.replace(FACTS, kind="claim_offer", locale=tag)
    told = compose(RENDERER, facts, CompanySettings(account_url=site))
    plain = compose(RENDERER, facts, CompanySettings())
    assert site in told.text and site not in plain.text
    assert 'href="https://video.example.com/account?from=mail&amp;x=&lt;b&gt;"' in told.html
    assert "video.example.com/account" not in plain.html
    # One paragraph more, in the letter's own language.
    assert told.text.count("\n\n") == plain.text.count("\n\n") + 1
    if not tag.startswith("en"):
        assert "signing in" not in told.text
    automatic = compose(
        RENDERER,
        dataclasses.replace(facts, kind="automatic_credit"),
        CompanySettings(account_url=site),
    )
    assert site not in automatic.text  # an automatic credit needs no claiming


def test_an_account_url_that_is_not_a_web_address_is_refused():
    with pytest.raises(ValueError, match="not an http"):
        CompanySettings(account_url="javascript:alert(1)")


def test_a_locale_without_templates_borrows_its_language_then_english():
    austrian = compose(RENDERER, dataclasses.replace(FACTS, locale="de-AT"), CompanySettings())
    assert austrian.locale == "de-DE" and "gestern" in austrian.text
    # Swedish has no letters: the company's default (en-US) serves it, with English
    # words throughout, not "igår" in an English sentence.
    swedish = compose(RENDERER, dataclasses.replace(FACTS, locale="sv-SE"), CompanySettings())
    assert swedish.locale == "en-US" and "yesterday" in swedish.text


def test_customer_data_is_escaped_in_html_and_cannot_inject_headers():
    hostile = dataclasses.replace(
        FACTS, first_name='<img src=x onerror="alert(1)">\r\nBcc: all@evil.example'
    )
    letter = compose(RENDERER, hostile, CompanySettings())
    assert "<img" not in letter.html and "&lt;img" in letter.html
    sender, reply_to = mime.addresses(CompanySettings())
    mail = mime.build(
        letter,
        sender=sender,
        reply_to=reply_to,
        to_name=hostile.first_name,
        to_address=hostile.email,
        msg_id="<makegood.1.1@example.com>",
        date=hostile.sent_at,
    )
    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["To"].addresses[0].addr_spec == "sam@example.com"
    assert [parsed[h] is not None for h in ("From", "Reply-To", "Date", "Message-ID")] == [True] * 4
    assert parsed.get_content_type() == "multipart/alternative"
    with pytest.raises(ValueError, match="not an address mail can go to"):
        mime.build(
            letter,
            sender=sender,
            reply_to=reply_to,
            to_name="x",
            to_address="sam@example.com\r\nBcc: x@evil.example",
            msg_id="<a@b>",
            date=hostile.sent_at,
        )


def test_an_override_with_an_unknown_variable_fails_naming_the_template(tmp_path: Path):
    (tmp_path / "en-US").mkdir()
    (tmp_path / "en-US" / "automatic_credit.txt").write_text("Hi {{ customer.nickname }}\n")
    renderer = Renderer(tmp_path)
    with pytest.raises(RenderError, match=r"en-US/automatic_credit\.txt.*nickname"):
        compose(renderer, FACTS, CompanySettings())
    # The override wins over the built-in file when it is right (templates are read
    # once per process, so the fix is seen by the next command).
    (tmp_path / "en-US" / "automatic_credit.txt").write_text("Hi {{ customer.first_name }}\n")
    assert compose(Renderer(tmp_path), FACTS, CompanySettings()).text == "Hi Sam\n"


def test_each_letter_takes_the_incident_summary_in_its_own_language():
    facts = dataclasses.replace(
        FACTS,
        incident_summaries={
            "de": "Unser Versand war ausgefallen.",
            "ja-JP": "配送が止まりました。",
        },
    )
    company = CompanySettings()
    austrian = compose(RENDERER, dataclasses.replace(facts, locale="de-AT"), company)
    assert "Unser Versand war ausgefallen." in austrian.text
    assert FACTS.incident_summary not in austrian.text
    japanese = compose(RENDERER, dataclasses.replace(facts, locale="ja-JP"), company)
    assert "配送が止まりました。" in japanese.text
    # No Swedish letter and no Swedish summary: English throughout.
    swedish = compose(RENDERER, dataclasses.replace(facts, locale="sv-SE"), company)
    assert FACTS.incident_summary in swedish.text
    # An Italian letter with no Italian summary never carries the English sentence.
    italian = compose(RENDERER, dataclasses.replace(facts, locale="it-IT"), company)
    assert italian.locale == "it-IT" and FACTS.incident_summary not in italian.text


def test_the_email_round_trips_through_a_standard_parser():
    facts = dataclasses.replace(FACTS, locale="ja-JP", first_name="陽翔 " + "長い名前" * 30)
    letter = compose(RENDERER, facts, CompanySettings())
    sender, reply_to = mime.addresses(CompanySettings())
    mail = mime.build(
        letter,
        sender=sender,
        reply_to=reply_to,
        to_name=facts.first_name,
        to_address=facts.email,
        msg_id="<makegood.3.7@example.com>",
        date=facts.sent_at,
    )
    assert all(len(line) <= 998 for line in mail.raw.split(b"\r\n"))
    assert b"\n" not in mail.raw.replace(b"\r\n", b"")  # CRLF only, as SMTP wants
    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert parsed["Subject"] == letter.subject == "お詫び"
    assert parsed["To"].addresses[0].display_name == facts.first_name
    assert parsed["Message-ID"] == "<makegood.3.7@example.com>"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert text.replace("\r\n", "\n") == letter.text
    assert html.replace("\r\n", "\n") == letter.html
    assert mail.readable_headers()["Subject"] == "お詫び"
