"""The console's incident and campaign pages over real HTTP (uvicorn on 127.0.0.1, the
in-process sender delivering to a real SMTP sink), on SQLite and PostgreSQL: the
timeline and impact counts, planning from the page, the campaign preview and the
exact emails, approval by two different people above budget, CSRF and roles on
every form, and execution in the background watched to the end."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from makegood.campaigns import preview as letters
from makegood.campaigns.models import Approval, Campaign
from makegood.config import Settings
from makegood.console.users import add_user
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.impact.models import Impact
from makegood.impact.service import impact_counts
from makegood.messaging.models import Message
from makegood.messaging.rendering import Renderer
from tests.support import truth as gt
from tests.support.delivery import Sink, settings
from tests.support.server import MovableClock, served
from tests.support.world import SEED_POLICY, World

PASSWORD = "a-long-console-password"
USERS = {"olivia": "operator", "ava": "approver", "ben": "approver", "vic": "viewer"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SRCDOC = re.compile(r'<iframe class="email-frame" sandbox title="[^"]*" srcdoc="([^"]*)"></iframe>')
# The seed policy with a budget every plan of the test data goes over.
TIGHT_POLICY = SEED_POLICY + 'budget = { USD = "1.00" }\n'
BASE_URL = "http://video.example.test"


@dataclass
class Site:
    base: str
    engine: Engine
    world: World
    sink: Sink
    locales: dict[str, str]  # customer id -> a locale other than en-US
    config: Settings

    def login(self, username: str) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=60)
        form = client.get("/console/login")
        answer = client.post(
            "/console/login",
            data={
                "csrf": token(form.text),
                "username": username,
                "password": PASSWORD,
                "next": "/console/incidents",
            },
        )
        assert answer.status_code == 303, answer.text
        return client


def token(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def site(engine, database_url, world, sink, tmp_path) -> Iterator[Site]:
    handler, port = sink
    with UnitOfWork(engine) as uow:
        for name, role in USERS.items():
            add_user(uow.session, name, role, PASSWORD, gt.NOW, "setup", name.capitalize())
        # Two streaming customers read other languages: the campaign has three locales.
        hurt = sorted(
            c["customer_id"]
            for c in world.truth.customers
            if c["customer_id"] in world.truth.streaming_confirmed and c["status"] == "active"
        )
        locales = {hurt[0]: "de-DE", hurt[1]: "ja-JP"}
        for customer_id, locale in locales.items():
            uow.session.execute(
                update(Customer).where(Customer.customer_id == customer_id).values(locale=locale)
            )
        uow.commit()
    # Served over plain HTTP here, so the session cookie must not be https-only.
    config = settings(database_url, port).model_copy(update={"base_url": BASE_URL})
    app = create_app(config, MovableClock(gt.NOW), with_worker=True)
    with served(app, lifespan=True) as base:
        yield Site(base, engine, world, handler, locales, config)


def plan_via_page(site: Site, client: httpx.Client, incident: int, policy: str) -> int:
    page = client.get(f"/console/incidents/{incident}")
    answer = client.post(
        f"/console/incidents/{incident}/plan",
        data={"csrf": token(page.text), "policy": policy, "holdout": "0"},
    )
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/console/campaigns/(\d+)", answer.headers["location"])
    assert found
    return int(found.group(1))


def post(client: httpx.Client, path: str, page: str, **data: str) -> httpx.Response:
    """POST a console form with the CSRF token of the page it is on."""
    return client.post(path, data={"csrf": token(client.get(page).text), **data})


def campaign_of(engine: Engine, campaign_id: int) -> Campaign:
    with UnitOfWork(engine) as uow:
        found = uow.session.get(Campaign, campaign_id)
        assert found is not None
        return found


def approvals(engine: Engine, campaign_id: int) -> list[str]:
    with UnitOfWork(engine) as uow:
        return list(
            uow.session.scalars(
                select(Approval.approver)
                .where(Approval.campaign_id == campaign_id)
                .order_by(Approval.id)
            )
        )


def stat(page: str, label: str) -> str:
    found = re.search(rf'<div class="label">{label}</div>\s*<div class="value">([^<]+)</div>', page)
    assert found, f"no {label} figure on the page"
    return found.group(1)


# ---------------------------------------------------------------- incident page


def test_the_incident_page_shows_counts_timeline_and_evidence(site):
    incident = site.world.streaming
    with UnitOfWork(site.engine) as uow:
        counts = impact_counts(uow.session, incident)
        top = uow.session.scalars(
            select(Impact)
            .where(Impact.incident_id == incident, Impact.confidence == "confirmed")
            .order_by(Impact.customer_id)
        ).first()
    assert counts["confirmed"] > 0 and counts["possible"] > 0

    anonymous = httpx.Client(base_url=site.base)
    away = anonymous.get(f"/console/incidents/{incident}")
    assert away.status_code == 303
    assert away.headers["location"].startswith("/console/login?next=")

    viewer = site.login("vic")
    page = viewer.get(f"/console/incidents/{incident}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    text = page.text
    assert stat(text, "Confirmed") == f"{counts['confirmed']:,}"
    assert stat(text, "Possible") == f"{counts['possible']:,}"
    for stage in ("Declared", "Resolved", "Impact found", "Campaign planned", "Approved"):
        assert f'<div class="what">{stage}' in text
    assert f"{counts['confirmed']:,} confirmed, {counts['possible']:,} possible" in text
    assert "2026-03-10 00:30 UTC" in text  # the window, in UTC with the zone named
    # Example evidence: the first confirmed customer, and what the data said, in UTC.
    assert top is not None and top.customer_id in text
    assert "failed_usage" in text and re.search(r"first error at 2026-03-10 \d\d:\d\d UTC", text)
    # A viewer reads; the forms are for operators.
    assert f"/console/incidents/{incident}/plan" not in text
    assert f"/console/incidents/{incident}/impact" not in text
    assert viewer.get("/console/incidents/999999").status_code == 404
    listing = viewer.get("/console/incidents")
    assert f'href="/console/incidents/{incident}"' in listing.text


def test_an_operator_declares_resolves_finds_impact_and_plans(site):
    operator = site.login("olivia")
    listing = operator.get("/console/incidents")
    declared = operator.post(
        "/console/incidents",
        data={
            "csrf": token(listing.text),
            "title": "Streaming <again>",
            "services": "streaming",
            "severity": "major",
            "start": gt.STREAM_START.strftime("%Y-%m-%dT%H:%M"),
            "summary": "Streaming failed.",
        },
    )
    assert declared.status_code == 303
    path = declared.headers["location"]
    incident = int(path.rsplit("/", 1)[1])
    page = operator.get(path)
    assert "Streaming &lt;again&gt;" in page.text and "<again>" not in page.text
    assert 'name="end"' in page.text  # open: the resolve form is offered
    assert "Resolve the incident first" in page.text

    early = post(operator, f"{path}/resolve", path, end="2026-03-09T00:00")
    assert early.status_code == 422
    assert 'class="flash flash-error"' in early.text and "must be after start" in early.text

    resolved = post(operator, f"{path}/resolve", path, end=gt.STREAM_END.strftime("%Y-%m-%dT%H:%M"))
    assert resolved.status_code == 303
    found = post(operator, f"{path}/impact", path)
    assert found.status_code == 303
    page = operator.get(path)
    assert "Impact found:" in page.text  # the flash, once
    with UnitOfWork(site.engine) as uow:
        counts = impact_counts(uow.session, incident)
        expected = impact_counts(uow.session, site.world.streaming)
    assert counts == expected  # the same window over the same data finds the same people
    assert stat(page.text, "Confirmed") == f"{counts['confirmed']:,}"
    assert "Impact found:" not in operator.get(path).text

    # The plan form starts from the seed policy; a broken policy is refused whole.
    assert "name = &#34;netflix-2008&#34;" in page.text
    broken = post(operator, f"{path}/plan", path, policy='name = "x"\n[[rules]]\nmode = 3\n')
    assert broken.status_code == 422
    assert '<ul class="problems">' in broken.text
    assert "mode = 3" in broken.text  # the text typed is kept for correcting
    with UnitOfWork(site.engine) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Campaign)) == 0
    campaign_id = plan_via_page(site, operator, incident, SEED_POLICY)
    assert campaign_of(site.engine, campaign_id).incident_id == incident


# ---------------------------------------------------------------- campaign page


def test_the_campaign_page_shows_the_preview_and_each_locale_s_email(site):
    operator = site.login("olivia")
    campaign_id = plan_via_page(site, operator, site.world.streaming, SEED_POLICY)
    campaign = campaign_of(site.engine, campaign_id)
    preview = campaign.preview
    page = operator.get(f"/console/campaigns/{campaign_id}")
    assert page.status_code == 200
    text = page.text
    assert "The campaign is planned." in text  # the flash after planning
    assert stat(text, "Offers") == f"{preview['offers']:,}"
    assert stat(text, "Excluded") == f"{preview['excluded']:,}"
    assert stat(text, "Held out") == f"{preview['held_out']:,}"
    for currency, total in preview["totals"].items():
        assert f"{total} {currency}" in text
    for reason, n in preview["excluded_by_reason"].items():
        assert re.search(rf"{re.escape(reason)}</td><td class=\"num\">{n:,}</td>", text)
    assert len(preview["largest"]) == min(10, preview["offers"])
    for row in preview["largest"]:
        assert row["customer_id"] in text
    assert "Ten largest credits" in text
    assert '<svg class="svg-chart"' in text and "<title" in text and "<desc" in text
    # Nothing inline that the Content-Security-Policy would block: the script is a file.
    assert ' style="' not in text and re.search(r"<script>\s*\S", text) is None
    assert '<script src="/static/console-campaign.js" defer></script>' in text
    assert httpx.get(f"{site.base}/static/console-campaign.js").status_code == 200

    # One sample per locale present, each a link that switches the email shown.
    for customer_id, locale in site.locales.items():
        assert f"<strong>{locale}</strong>" in text
        assert f"?customer={customer_id}#email" in text
    assert "<strong>en-US</strong>" in text

    renderer = Renderer()
    config = site.config
    for customer_id, locale in site.locales.items():
        page = operator.get(f"/console/campaigns/{campaign_id}", params={"customer": customer_id})
        with UnitOfWork(site.engine) as uow:
            _, letter, _ = letters.preview(
                uow.session,
                campaign,
                renderer,
                config.company,
                config.base_url,
                gt.NOW,
                customer_id,
            )
        assert letter.locale == locale
        assert html.escape(letter.subject, quote=False) in page.text
        assert f"templates {locale}" in page.text
        # The HTML is in a sandboxed frame, escaped whole into srcdoc: no markup leaks out.
        frame = SRCDOC.search(page.text)
        assert frame, "no sandboxed email frame"
        assert "<" not in frame.group(1) and '"' not in frame.group(1)
        assert html.unescape(frame.group(1)) == letter.html
        assert html.escape(letter.text, quote=False).splitlines()[0] in page.text
        assert letters.PLACEHOLDER in page.text
        # The letter's own inline styles, and only those, are let through by hash.
        policy = page.headers["content-security-policy"]
        assert "'unsafe-hashes' 'sha256-" in policy and "unsafe-inline" not in policy

    nobody = operator.get(f"/console/campaigns/{campaign_id}", params={"customer": "no-such"})
    assert nobody.status_code == 200
    assert "no-such gets no email from this campaign" in nobody.text
    assert "srcdoc" not in nobody.text
    assert operator.get("/console/campaigns/999999").status_code == 404


def test_over_budget_needs_two_different_approvers(site):
    operator = site.login("olivia")
    campaign_id = plan_via_page(site, operator, site.world.shipping, TIGHT_POLICY)
    assert campaign_of(site.engine, campaign_id).approvals_needed == 2
    path = f"/console/campaigns/{campaign_id}"

    # An operator sees no approve button and is refused if she posts anyway.
    page = operator.get(path)
    assert "over budget" in page.text
    assert 'id="approve"' not in page.text
    assert 'id="cancel"' in page.text
    refused = operator.post(f"{path}/approve", data={"csrf": token(page.text)})
    assert refused.status_code == 403
    assert "approver role" in refused.text
    assert approvals(site.engine, campaign_id) == []

    ava = site.login("ava")
    page = ava.get(path)
    assert 'id="approve"' in page.text
    first = ava.post(f"{path}/approve", data={"csrf": token(page.text)})
    assert first.status_code == 303
    page = ava.get(path)
    assert "a second, different approver must approve it too" in page.text
    assert 'id="approve"' not in page.text  # not for the same person again
    assert campaign_of(site.engine, campaign_id).status == "draft"

    again = ava.post(f"{path}/approve", data={"csrf": token(page.text)})
    assert again.status_code == 409
    assert "You have already approved this campaign" in again.text
    assert approvals(site.engine, campaign_id) == ["ava"]
    assert campaign_of(site.engine, campaign_id).status == "draft"

    ben = site.login("ben")
    second = post(ben, f"{path}/approve", path)
    assert second.status_code == 303
    assert approvals(site.engine, campaign_id) == ["ava", "ben"]
    assert campaign_of(site.engine, campaign_id).status == "approved"
    page = ben.get(path)
    assert "is approved and ready to execute" in page.text
    assert "Approved by ava" in page.text and "ben (" in page.text
    # A viewer may read it all and do none of it.
    viewer = site.login("vic")
    page = viewer.get(path)
    assert page.status_code == 200
    assert 'id="execute"' not in page.text and 'id="cancel"' not in page.text
    assert viewer.post(f"{path}/execute", data={"csrf": token(page.text)}).status_code == 403
    assert viewer.post(f"{path}/cancel", data={"csrf": token(page.text)}).status_code == 403
    assert campaign_of(site.engine, campaign_id).status == "approved"


def test_a_post_without_the_csrf_token_is_refused(site):
    operator = site.login("olivia")
    campaign_id = plan_via_page(site, operator, site.world.streaming, SEED_POLICY)
    ava = site.login("ava")
    path = f"/console/campaigns/{campaign_id}"
    for client, target, data in (
        (ava, f"{path}/approve", {}),
        (ava, f"{path}/approve", {"csrf": "forged"}),
        (operator, f"{path}/cancel", {}),
        (operator, f"{path}/execute", {}),
        (operator, f"/console/incidents/{site.world.shipping}/plan", {"policy": SEED_POLICY}),
        (operator, f"/console/incidents/{site.world.shipping}/impact", {}),
    ):
        answer = client.post(target, data=data)
        assert answer.status_code == 403, target
        assert "This form has expired" in answer.text
    # Another session's token is not this session's.
    other = token(operator.get(path).text)
    assert ava.post(f"{path}/approve", data={"csrf": other}).status_code == 403
    assert approvals(site.engine, campaign_id) == []
    with UnitOfWork(site.engine) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_execute_runs_once_in_the_background_and_progress_reaches_done(site):
    operator = site.login("olivia")
    campaign_id = plan_via_page(site, operator, site.world.streaming, SEED_POLICY)
    path = f"/console/campaigns/{campaign_id}"
    assert post(site.login("ava"), f"{path}/approve", path).status_code == 303
    offers = campaign_of(site.engine, campaign_id).preview["offers"]
    assert offers > 0

    before = operator.get(f"{path}/progress").json()
    assert before["status"] == "approved" and before["done"] is False
    assert before["offers"] == {"total": offers, "executed": 0, "planned": offers}

    # Pressed twice at once: both answer at once, and it runs once.
    page = operator.get(path)
    assert 'id="execute"' in page.text and 'data-progress-url="' in page.text
    form = {"csrf": token(page.text)}
    with httpx.Client(base_url=site.base, cookies=operator.cookies, timeout=60) as twin:
        presses = []
        threads = [
            threading.Thread(
                target=lambda c=c: presses.append(c.post(f"{path}/execute", data=form))
            )
            for c in (operator, twin)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [p.status_code for p in presses] == [303, 303]

    deadline = time.monotonic() + 90
    seen = []
    while True:
        state = operator.get(f"{path}/progress").json()
        seen.append(state["percent"])
        if state["done"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert state["done"], state
    assert state["status"] == "done" and state["percent"] == 100
    assert state["offers"] == {"total": offers, "executed": offers, "planned": 0}
    assert state["messages"]["sent"] == offers
    assert state["messages"]["queued"] == state["messages"]["failed"] == 0
    assert seen == sorted(seen)  # progress only goes forward

    with UnitOfWork(site.engine) as uow:
        queued = uow.session.scalar(
            select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id)
        )
        statuses = set(
            uow.session.scalars(select(Offer.status).where(Offer.campaign_id == campaign_id))
        )
    assert queued == offers  # one email per offer, whoever pressed
    assert statuses == {"offered"}
    received = site.sink.message_ids()
    assert len(received) == offers and set(received.values()) == {1}

    again = post(operator, f"{path}/execute", path)
    assert again.status_code == 303
    page = operator.get(path)
    assert "already executed; nothing was done twice" in page.text
    assert 'id="execute"' not in page.text and 'id="cancel"' not in page.text
    assert 'value="100"' in page.text  # the bar, drawn without JavaScript
    assert "Messages sent over time" in page.text and "<polyline" in page.text
    assert len(site.sink.message_ids()) == offers

    incident = operator.get(f"/console/incidents/{site.world.streaming}").text
    assert "Every apology is out" in incident
    assert stat(incident, "Apologies sent") == f"{offers:,}"
    assert f"{offers:,} sent, 0 failed" in incident
    refused = post(operator, f"{path}/cancel", path)
    assert refused.status_code == 409
    assert "cannot be cancelled" in refused.text


def test_cancel_removes_the_plan_and_the_incident_can_be_planned_again(site):
    operator = site.login("olivia")
    incident = site.world.shipping
    campaign_id = plan_via_page(site, operator, incident, SEED_POLICY)
    path = f"/console/campaigns/{campaign_id}"
    assert post(operator, f"{path}/cancel", path).status_code == 303
    page = operator.get(path)
    assert "is cancelled" in page.text and "This campaign was cancelled" in page.text
    assert campaign_of(site.engine, campaign_id).status == "cancelled"
    refused = post(operator, f"{path}/execute", path)
    assert refused.status_code == 409 and "was cancelled" in refused.text
    timeline = operator.get(f"/console/incidents/{incident}").text
    assert f"Campaign #{campaign_id} cancelled" in timeline
    assert plan_via_page(site, operator, incident, SEED_POLICY) != campaign_id


def test_the_campaign_page_names_letter_languages_with_no_summary_until_one_is_written(site):
    from makegood.incidents.service import write_summaries

    with UnitOfWork(site.engine) as uow:
        uow.session.execute(update(Customer).values(locale="ko-KR"))
        write_summaries(
            uow.session, site.world.streaming, "Videos would not start.", {}, gt.NOW, "cx"
        )
        uow.commit()
    operator = site.login("olivia")
    campaign_id = plan_via_page(site, operator, site.world.streaming, SEED_POLICY)
    offers = campaign_of(site.engine, campaign_id).preview["offers"]
    text = operator.get(f"/console/campaigns/{campaign_id}").text
    assert "Letters by language" in text
    assert re.search(r"<strong>ko-KR</strong>.*?makegood's sentence", text, re.S)
    assert f"No summary is written in ko-KR: those {offers:,} customers" in text
    # Once a person writes the Korean summary, the page counts it as written.
    with UnitOfWork(site.engine) as uow:
        write_summaries(uow.session, site.world.streaming, None, {"ko": "재생 장애"}, gt.NOW, "cx")
        uow.commit()
    text = operator.get(f"/console/campaigns/{campaign_id}").text
    assert "No summary is written" not in text
    assert re.search(
        r"<strong>ko-KR</strong></td><td><span class=\"pill done\">summary written", text
    )
