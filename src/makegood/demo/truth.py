"""What the generator knows and makegood has to find out: who each outage hurt,
which customers will claim their link (and when, some too late), and who leaves the
company in the months after.

Read from the parts :mod:`makegood.demo.synthetic` cast each customer in, never from
the rows or from an impact rule: the demo's counts are checked against this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from makegood.campaigns.planning import held_out
from makegood.demo.scenario import Scenario
from makegood.demo.synthetic import (
    connect,
    copy_to,
    customers_sql,
    rand,
    shipping_part,
    status_of,
    streaming_part,
)

# Of the customers with a claim link, how many in a thousand use it: the sure ones
# more than the ones who only may have been hurt.
CLAIMERS = {"confirmed": 350, "possible": 150}
# Of those, how many in a hundred come back only after the deadline.
LATE = 8
CLAIM_DAYS = 7
# Claims come in from 5 minutes after the email to an hour before the deadline, most
# early (the cube of a uniform draw: half within the first day); late ones between an
# hour and four days after it, having opened the page in time.
FIRST_CLAIM = timedelta(minutes=5)
LAST_CLAIM = timedelta(days=CLAIM_DAYS) - timedelta(hours=1)
LATE_FROM = timedelta(days=CLAIM_DAYS) + timedelta(hours=1)
LATE_SPREAD = timedelta(days=4)
# Who has cancelled two months on, per thousand: customers hurt and held out of the
# apology leave most, those apologised to least; the rest in between.
CHURN = {"held_out": 150, "apologised": 50, "unaffected": 80}
MONTHS_LATER = 2


@dataclass(frozen=True)
class Hurt:
    """One customer either outage touched, and what they will do about it."""

    customer_id: str
    email: str
    status: str
    streaming: str | None  # confirmed | possible | None
    shipping: bool  # an order left late
    claims: bool  # opens the claim link and confirms
    late: bool  # ... only after the deadline
    opens_after: timedelta  # from the email's arrival
    confirms_after: timedelta


def truth_sql(s: Scenario) -> str:
    def r(salt: str) -> str:
        return rand("c", s.seed, salt)

    spread = int((LAST_CLAIM - FIRST_CLAIM).total_seconds())
    cube = f"power(({r('when')} % 1000000) / 1000000.0, 3)"
    on_time = f"{int(FIRST_CLAIM.total_seconds())} + CAST(floor({spread} * {cube}) AS BIGINT)"
    late = (
        f"{int(LATE_FROM.total_seconds())} + {r('late_when')} % {int(LATE_SPREAD.total_seconds())}"
    )
    claims = " ".join(f"WHEN '{k}' THEN {r('claims')} % 1000 < {v}" for k, v in CLAIMERS.items())
    return f"""
    WITH parts AS (
        SELECT c, {status_of(s, "c")} AS status,
               CASE {streaming_part(s, "c")} WHEN 'failed' THEN 'confirmed'
                    WHEN 'habitual' THEN 'possible' END AS streaming,
               coalesce({shipping_part(s, "c")} = 'late', false) AS shipping
        FROM (SELECT range AS c FROM range({s.customers}))
    ),
    hurt AS (
        SELECT *, coalesce(CASE streaming {claims} END, false) AS claims,
               {r("late")} % 100 < {LATE} AS late
        FROM parts WHERE streaming IS NOT NULL OR shipping
    )
    SELECT printf('c%08d', c) AS customer_id, printf('member%d@example.com', c) AS email,
           status, streaming, shipping, claims, claims AND late AS late,
           CASE WHEN claims AND late THEN {on_time} ELSE 0 END AS opens_after,
           CASE WHEN NOT claims THEN 0 WHEN late THEN {late} ELSE {on_time} END
               AS confirms_after
    FROM hurt ORDER BY c"""


def hurt(s: Scenario) -> list[Hurt]:
    """Every customer either outage touched, in customer order."""
    con = connect()
    try:
        rows = con.execute(truth_sql(s)).fetchall()
    finally:
        con.close()
    return [
        Hurt(
            customer_id=cid,
            email=email,
            status=status,
            streaming=streaming,
            shipping=bool(shipping),
            claims=bool(claims),
            late=bool(late),
            opens_after=timedelta(seconds=opens),
            confirms_after=timedelta(seconds=confirms),
        )
        for cid, email, status, streaming, shipping, claims, late, opens, confirms in rows
    ]


@dataclass(frozen=True)
class Expected:
    """What makegood should count for one incident."""

    confirmed: int
    possible: int
    excluded: int  # cancelled customers: the seed policy gives them nothing
    held_out: int
    credited: int  # automatic credits granted, or claims that succeeded
    claim_links: int
    claimed: int
    late_refused: int

    @property
    def affected(self) -> int:
        return self.confirmed + self.possible


def _offered(h: Hurt, incident_id: int, holdout: Decimal) -> bool:
    return h.status != "cancelled" and not held_out(incident_id, h.customer_id, holdout)


def expected_shipping(people: Iterable[Hurt], incident_id: int, holdout: Decimal) -> Expected:
    late = [h for h in people if h.shipping]
    eligible = [h for h in late if h.status != "cancelled"]
    credited = sum(_offered(h, incident_id, holdout) for h in eligible)
    return Expected(
        confirmed=len(late),
        possible=0,
        excluded=len(late) - len(eligible),
        held_out=len(eligible) - credited,
        credited=credited,
        claim_links=0,
        claimed=0,
        late_refused=0,
    )


def expected_streaming(people: Iterable[Hurt], incident_id: int, holdout: Decimal) -> Expected:
    hit = [h for h in people if h.streaming]
    eligible = [h for h in hit if h.status != "cancelled"]
    linked = [h for h in eligible if _offered(h, incident_id, holdout)]
    claimed = sum(h.claims and not h.late for h in linked)
    return Expected(
        confirmed=sum(h.streaming == "confirmed" for h in hit),
        possible=sum(h.streaming == "possible" for h in hit),
        excluded=len(hit) - len(eligible),
        held_out=len(eligible) - len(linked),
        credited=claimed,
        claim_links=len(linked),
        claimed=claimed,
        late_refused=sum(h.claims and h.late for h in linked),
    )


def held_out_customers(
    people: Iterable[Hurt], shipping_id: int, streaming_id: int, holdout: Decimal
) -> list[str]:
    """Customers hurt and left out of an apology as the control group."""
    return [
        h.customer_id
        for h in people
        if h.status != "cancelled"
        and (
            (h.shipping and held_out(shipping_id, h.customer_id, holdout))
            or (h.streaming is not None and held_out(streaming_id, h.customer_id, holdout))
        )
    ]


def write_later_customers(s: Scenario, held: list[str], path: Path) -> dict[str, list[int]]:
    """The customers file two months on: the same people, the next bill date two
    cycles later, and some cancelled, by how the outages treated them (``CHURN``).
    Returns, per group, how many were customers before and how many of them left."""
    group = (
        "CASE WHEN held.customer_id IS NOT NULL THEN 'held_out' "
        "WHEN hurt.customer_id IS NOT NULL THEN 'apologised' ELSE 'unaffected' END"
    )
    churn = " ".join(f"WHEN '{k}' THEN {v}" for k, v in CHURN.items())
    con = connect()
    try:
        con.execute("CREATE TABLE held AS SELECT unnest(?::VARCHAR[]) AS customer_id", [held])
        con.execute(
            f"""CREATE TABLE later AS
            SELECT cur.*, {group} AS grp,
                   cur.status <> 'cancelled'
                   AND {rand("cur.c", s.seed, "churn")} % 1000 < CASE {group} {churn} END
                       AS leaves
            FROM ({customers_sql(s, numbered=True)}) cur
            LEFT JOIN ({truth_sql(s)}) hurt USING (customer_id)
            LEFT JOIN held USING (customer_id)"""
        )
        copy_to(
            con,
            f"""SELECT * EXCLUDE (c, grp, leaves) REPLACE (
                    CASE WHEN leaves THEN 'cancelled' ELSE status END AS status,
                    CAST(CAST(next_bill_date AS DATE) + INTERVAL {MONTHS_LATER} MONTH AS DATE)
                        AS next_bill_date)
                FROM later ORDER BY c""",
            path,
        )
        found = con.execute(
            "SELECT grp, count(*), count(*) FILTER (WHERE leaves) FROM later "
            "WHERE status <> 'cancelled' GROUP BY grp ORDER BY grp"
        ).fetchall()
    finally:
        con.close()
    return {str(grp): [int(n), int(left)] for grp, n, left in found}
