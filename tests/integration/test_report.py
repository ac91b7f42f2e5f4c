"""The incident report against the test's own counting of the rows, on SQLite and
PostgreSQL: both seed campaigns executed with a holdout, apologies delivered over
real SMTP (one address refusing mail, one suppressed), claim links used from the
emails, later customer statuses imported with churn, and the HTML file it writes."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import statistics
import subprocess
from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

from sqlalchemy import select, update

from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.credits.models import LedgerEntry, Offer
from makegood.credits.service import claim
from makegood.customers.models import Customer
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.wiring import build_root
from makegood.incidents.models import Incident
from makegood.messaging.models import Message, Suppression
from makegood.messaging.sender import for_root
from makegood.policy.schema import parse_policy
from makegood.reports.schemas import ReportOut
from makegood.reports.service import incident_report
from tests.support import cli
from tests.support import truth as gt
from tests.support.claims import delivered_links
from tests.support.delivery import SENT_AT, executed, settings
from tests.support.world import SECRET, SEED_POLICY

HOLDOUT = Decimal(25)
LATER = gt.NOW + timedelta(days=40)  # statuses imported long after the campaigns
BATCH = 7  # messages per sender batch: each batch is accepted a few minutes later
FOUR = Decimal("0.0001")


class Ticking:
    """A business clock that moves on five minutes each time the sender asks it."""

    def __init__(self, start: datetime) -> None:
        self.next = start

    def now(self) -> datetime:
        moment, self.next = self.next, self.next + timedelta(minutes=5)
        return moment


def planned(engine, incident: int) -> int:
    """Plan the seed policy with a holdout, approve and execute it; the campaign id."""
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident, parse_policy(SEED_POLICY), HOLDOUT, gt.NOW, "cx")
        approve(uow.session, campaign.id, "lead", gt.NOW)
        uow.commit()
    execute(engine, campaign.id, gt.NOW, "ops", SECRET)
    return campaign.id


def deliver(engine, database_url: str, port: int) -> None:
    config = settings(database_url, port, batch_size=BATCH)
    sender = for_root(build_root(config, Ticking(SENT_AT), engine))
    asyncio.run(sender.run("until_empty"))


def report(engine, incident: int, now: datetime) -> tuple[object, dict]:
    with UnitOfWork(engine) as uow:
        found = incident_report(uow.session, incident, now)
        return found, ReportOut.of(found).model_dump(mode="json")


def rows(engine, campaign: int) -> tuple[list, list, list, dict]:
    """Offers, messages and ledger entries of one campaign, and every customer."""
    with UnitOfWork(engine) as uow:
        offers = uow.session.execute(
            select(
                Offer.customer_id,
                Offer.status,
                Offer.mode,
                Offer.amount_minor,
                Offer.currency,
                Offer.expires_at,
                Offer.claimed_at,
                Offer.granted_at,
            ).where(Offer.campaign_id == campaign)
        ).all()
        messages = uow.session.execute(
            select(Message.customer_id, Message.status, Message.sent_at).where(
                Message.campaign_id == campaign
            )
        ).all()
        incident = uow.session.scalar(
            select(Offer.incident_id).where(Offer.campaign_id == campaign).limit(1)
        )
        ledger = uow.session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount_minor, LedgerEntry.currency).where(
                LedgerEntry.incident_id == incident
            )
        ).all()
        customers = {
            c.customer_id: (c.status, c.monthly_price_minor, c.currency)
            for c in uow.session.scalars(select(Customer))
        }
    return offers, messages, ledger, customers


def share(part: int, whole: int, places: Decimal = FOUR) -> str:
    return str((Decimal(part) / Decimal(whole)).quantize(places, rounding=ROUND_HALF_UP))


def test_the_report_counts_what_the_rows_say_and_measures_retention_against_the_holdout(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    t = world.truth
    campaigns = {world.shipping: planned(engine, world.shipping)}
    campaigns[world.streaming] = planned(engine, world.streaming)

    # One shipping customer's address refuses mail for good; one streaming customer's
    # address is already on the suppression list.
    with UnitOfWork(engine) as uow:
        refused, blocked = (
            uow.session.scalar(
                select(Customer.email)
                .join(Message, Message.customer_id == Customer.customer_id)
                .where(Message.campaign_id == campaigns[incident])
                .order_by(Customer.customer_id)
                .limit(1)
            )
            for incident in (world.shipping, world.streaming)
        )
        uow.session.add(Suppression(address=blocked.lower(), created_at=gt.NOW, reason="test"))
        uow.commit()
    handler.refuse = lambda env: "550 5.1.1 No such user" if refused in env.rcpt_tos else None
    deliver(engine, database_url, port)

    # Every other delivered claim link is used, one every five hours.
    links = delivered_links(handler)
    claimed_at = []
    for i, link in enumerate(links[::2]):
        when = SENT_AT + timedelta(hours=1 + 5 * i)
        with UnitOfWork(engine) as uow:
            assert claim(uow.session, link.token, when).status == "claimed"
            uow.commit()
        claimed_at.append(when)
    assert len(claimed_at) >= 3

    during = SENT_AT + timedelta(days=1)
    for incident, campaign in campaigns.items():
        offers, messages, ledger, customers = rows(engine, campaign)
        found, body = report(engine, incident, during)
        confirmed = t.shipping_confirmed if incident == world.shipping else t.streaming_confirmed
        possible = set() if incident == world.shipping else t.streaming_possible
        affected_ids = set(confirmed) | possible
        cancelled = [c for c in affected_ids if customers[c][0] == "cancelled"]
        held = [o for o in offers if o.status == "held_out"]
        assert held, "a 25% holdout of a few dozen customers holds somebody out"

        assert body["affected"] == {
            "confirmed": len(confirmed),
            "possible": len(possible),
            "total": len(affected_ids),
        }
        assert body["excluded"] == {
            "total": len(cancelled),
            "by_reason": {"status:cancelled": len(cancelled)} if cancelled else {},
        }
        assert body["held_out"] == len(held)

        # Delivery, one outcome per customer.
        by_customer: dict[str, set[str]] = {}
        for m in messages:
            by_customer.setdefault(m.customer_id, set()).add(m.status)
        delivered = {c for c, s in by_customer.items() if "sent" in s}
        assert body["delivery"] == {
            "notified": len(by_customer),
            "delivered": len(delivered),
            "failed": sum(s == {"failed"} for s in by_customer.values()),
            "suppressed": sum(s == {"suppressed"} for s in by_customer.values()),
            "pending": 0,
            "bounced": sum(s == {"bounced"} for s in by_customer.values()),
            "complained": 0,
            "opted_out": 0,
        }
        assert body["delivery"]["failed" if incident == world.shipping else "suppressed"] == 1

        issued = [o for o in offers if o.status not in ("planned", "held_out")]
        claims = [o for o in offers if o.claimed_at is not None]
        links_issued = [o for o in issued if o.mode == "claim"]
        expected_funnel = [
            ("affected", len(affected_ids)),
            ("offered", len(issued)),
            ("notified", len(by_customer)),
            ("delivered", len(delivered)),
        ]
        if incident == world.shipping:
            expected_funnel.append(("granted", sum(o.granted_at is not None for o in offers)))
            assert body["claims"] == {"offered": 0, "claimed": 0, "rate": None}
            assert body["claims_over_time"] is None
        else:
            expected_funnel.append(("claimed", len(claims)))
            assert len(claims) == len(claimed_at)
            assert body["claims"] == {
                "offered": len(links_issued),
                "claimed": len(claims),
                "rate": share(len(claims), len(links_issued)),
            }
            series = found.claims_over_time
            assert series is not None and series.total == len(claims)
            placed = Counter((c - series.start) // series.step for c in claimed_at)
            assert placed == Counter({i: n for i, n in enumerate(series.counts) if n})
            assert body["claims_over_time"]["counts"] == list(series.counts)
        assert [(s["step"], s["customers"]) for s in body["funnel"]] == expected_funnel

        # Money: net from the ledger, revenue from the affected customers' prices.
        net = sum(e.amount_minor for e in ledger)
        revenue = sum(customers[c][1] for c in affected_ids)
        assert {customers[c][2] for c in affected_ids} == {"USD"}
        open_links = sum(
            o.amount_minor
            for o in offers
            if o.status == "offered" and o.expires_at is not None and o.expires_at > during
        )
        assert body["cost"] == {
            "USD": {
                "net": f"{Decimal(net) / 100:.2f}",
                "customers": len(affected_ids),
                "monthly_revenue": f"{Decimal(revenue) / 100:.2f}",
                "share_of_monthly_revenue": share(net, revenue, Decimal("0.000001")),
                "open_claims": f"{Decimal(open_links) / 100:.2f}",
            }
        }
        assert body["credits"]["USD"]["net"] == body["cost"]["USD"]["net"]
        if incident == world.streaming:
            assert open_links > 0

        # Time to apology: each customer's first accepted message after the incident end.
        end = gt.SHIP_END if incident == world.shipping else gt.STREAM_END
        firsts = sorted(
            min(m.sent_at for m in messages if m.customer_id == c and m.status == "sent")
            for c in delivered
        )
        assert len(set(firsts)) > 1, "the ticking clock spreads the sends"
        waits = [f - end for f in firsts]
        timing = found.time_to_apology
        assert timing.customers == len(delivered)
        assert timing.last_accepted == firsts[-1] and timing.to_last == firsts[-1] - end
        assert timing.median == statistics.median(waits)
        assert body["time_to_apology"]["to_last_seconds"] == int((firsts[-1] - end).total_seconds())
        median_seconds = Decimal(str(statistics.median(waits).total_seconds()))
        assert body["time_to_apology"]["median_seconds"] == int(
            median_seconds.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        )
        assert timing.over_time is not None and timing.over_time.total == len(delivered)

        # No statuses imported since execution: group sizes only, and it says why.
        apologised = {
            o.customer_id
            for o in offers
            if o.status in ("granted", "offered", "claimed") and o.customer_id in delivered
        }
        ret = body["retention"]
        assert ret["state"] == "no_later_import"
        assert "import" in ret["message"]
        assert ret["apologised"] == {"customers": len(apologised), "active": None, "share": None}
        assert ret["held_out"] == {"customers": len(held), "active": None, "share": None}
        assert ret["difference"] is None and ret["interval"] is None

    # Later statuses: some of each group cancel, one apologised customer pauses.
    groups = {}
    for incident, campaign in campaigns.items():
        offers, messages, _, _ = rows(engine, campaign)
        sent = {m.customer_id for m in messages if m.status == "sent"}
        groups[incident] = (
            sorted(
                o.customer_id
                for o in offers
                if o.status in ("granted", "offered", "claimed") and o.customer_id in sent
            ),
            sorted(o.customer_id for o in offers if o.status == "held_out"),
        )
    status = {c["customer_id"]: c["status"] for c in t.customers}
    for apologised, held in groups.values():
        for cid in apologised[::4]:
            status[cid] = "cancelled"
        status[apologised[1]] = "paused"
        for cid in held[::2]:
            status[cid] = "cancelled"
    later_file = tmp_path / "customers-later.csv"
    with later_file.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, gt.CUSTOMER_COLUMNS)
        writer.writeheader()
        writer.writerows({**c, "status": status[c["customer_id"]]} for c in t.customers)
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, later_file, LATER)
        uow.commit()

    for incident, (apologised, held) in groups.items():
        found, body = report(engine, incident, LATER)
        ret = body["retention"]
        stayed = sum(status[c] == "active" for c in apologised)
        stayed_held = sum(status[c] == "active" for c in held)
        assert ret["state"] == "measured"
        assert ret["statuses_as_of"] == LATER.isoformat()
        assert ret["executed_at"] == gt.NOW.isoformat()
        assert ret["apologised"] == {
            "customers": len(apologised),
            "active": stayed,
            "share": share(stayed, len(apologised)),
        }
        assert ret["held_out"] == {
            "customers": len(held),
            "active": stayed_held,
            "share": share(stayed_held, len(held)),
        }
        p1, p2 = Decimal(stayed) / len(apologised), Decimal(stayed_held) / len(held)
        diff = Decimal(ret["difference"])
        assert diff == (p1 - p2).quantize(FOUR, rounding=ROUND_HALF_UP)
        low, high = Decimal(ret["interval"]["low"]), Decimal(ret["interval"]["high"])
        assert low < diff < high and low >= -1 and high <= 1
        assert ret["interval"]["level"] == "0.95" and "Newcombe" in ret["interval"]["method"]
        points = (diff * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        words = "more" if diff > 0 else "less"
        assert f"stayed {abs(points)} points {words} often" in ret["message"]
        if low <= 0 <= high:
            assert (
                "the interval includes 0, so no difference is shown at this size" in ret["message"]
            )
        # Every claim link has run out by then; nothing is left to claim.
        assert body["cost"]["USD"]["open_claims"] == "0.00"


# ---------------------------------------------------------------- the HTML file


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


TITLE = 'Streaming down <script>alert("x")</script> & "friends"'


def test_the_html_report_is_one_self_contained_file_with_its_charts_and_escapes_titles(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    campaign = planned(engine, world.streaming)
    executed(engine, world.shipping)  # no holdout: the report says there is none
    deliver(engine, database_url, port)
    for i, link in enumerate(delivered_links(handler)[::3]):
        with UnitOfWork(engine) as uow:
            claim(uow.session, link.token, SENT_AT + timedelta(hours=2 + 7 * i))
            uow.commit()
    with UnitOfWork(engine) as uow:
        uow.session.execute(
            update(Incident).where(Incident.id == world.streaming).values(title=TITLE)
        )
        customers = uow.session.execute(select(Customer)).scalars().all()
        offers = dict(
            uow.session.execute(
                select(Offer.customer_id, Offer.status).where(Offer.campaign_id == campaign)
            ).all()
        )
        uow.commit()
        later = tmp_path / "later.csv"
        with later.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, gt.CUSTOMER_COLUMNS)
            writer.writeheader()
            by_id = {c["customer_id"]: c for c in world.truth.customers}
            for n, c in enumerate(customers):
                churned = offers.get(c.customer_id) == "held_out" and n % 2 == 0
                writer.writerow(
                    {**by_id[c.customer_id], "status": "cancelled" if churned else c.status}
                )
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, later, LATER)
        uow.commit()

    out = tmp_path / "report.html"
    proc = makegood("report", str(world.streaming), "--html", str(out), db=database_url)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert body["incident"]["title"] == TITLE and body["retention"]["state"] == "measured"
    html = out.read_text("utf-8")

    # Self-contained: nothing fetched, nothing run.
    parser = Tags()
    parser.feed(html)
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names and "iframe" not in names and "img" not in names
    assert not [
        (tag, attrs)
        for tag, attrs in parser.tags
        for key in ("src", "href", "action", "poster", "data")
        if re.match(r"\s*(https?:)?//", attrs.get(key) or "")
    ]
    assert not any(tag == "link" for tag in names)
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"\bon[a-z]+\s*=", html)  # no event handler attributes

    # The charts are there, inline.
    for key in (
        "report-funnel",
        "report-claims",
        "report-apologies",
        "report-cost",
        "report-retention",
        "report-difference",
        "report-excluded",
        "report-delivery",
    ):
        assert f'id="{key}-title"' in html, key
    assert names.count("svg") == 8

    # The title arrives escaped, wherever it appears.
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;friends&#34;" in html
    assert body["retention"]["message"].split(";")[0].replace('"', "&#34;") in html

    # The shipping incident: automatic credits only, and no holdout to compare against.
    other = tmp_path / "shipping.html"
    proc = makegood(
        "report", str(world.shipping), "--html", str(other), db=database_url, json=False
    )
    assert proc.returncode == 0, proc.stderr
    assert f"HTML report written to {other}" in proc.stdout.replace("\n", "")
    shipping = other.read_text("utf-8")
    assert "held nobody out" in shipping and "Credited automatically" in shipping
    assert "every credit was automatic" in shipping


def makegood(*args: str, db: str, json: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": db,
        "MAKEGOOD_NOW": LATER.isoformat(),
        "COLUMNS": "250",
    }
    return cli.run([*(["--json"] if json else []), *args], env=env, timeout=120)


def test_an_incident_without_a_campaign_still_gets_a_report_and_a_page(engine, world, tmp_path):
    from makegood.reports import html as html_report

    found, body = report(engine, world.streaming, gt.NOW)
    assert body["campaign"] is None and body["retention"]["state"] == "no_campaign"
    assert [s["step"] for s in body["funnel"]] == ["affected", "offered", "notified", "delivered"]
    assert body["funnel"][0]["customers"] == body["affected"]["total"] > 0
    assert body["time_to_apology"]["median_seconds"] is None
    page = tmp_path / "empty.html"
    html_report.write(found, page)
    assert "No remedy has been planned yet." in page.read_text("utf-8")
