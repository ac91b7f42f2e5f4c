"""Claiming without the link: the company's own signed-in site lists a customer's open
offers and claims one by id with a key of the claims role; the same single conditional
update as the claim page, so the two racing for one offer make one credit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from makegood.access.service import create_key
from makegood.db.uow import UnitOfWork
from tests.integration import test_claim_page as page
from tests.integration.test_claim_page import CSRF, credits_for, customer_of, offer_of
from tests.support import truth as gt

# The claim page's own: the streaming campaign executed, its links delivered, and the
# application served with a clock the test moves.
claimable = page.claimable
site = page.site


def _keys(engine) -> dict[str, str]:
    keys = {}
    with UnitOfWork(engine) as uow:
        for owner, role in (("shop", "claims"), ("vera", "viewer"), ("otto", "operator")):
            _, keys[role] = create_key(uow.session, owner, role, gt.NOW, "setup")
        uow.commit()
    return keys


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_site_lists_open_offers_and_claims_one_once(engine, site):
    client, _, links = site
    keys = _keys(engine)
    customer = customer_of(engine, links[0])
    offer = offer_of(engine, links[0])
    listed = client.get(
        f"/api/customers/{customer}/offers?open=true", headers=_auth(keys["claims"])
    )
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()] == [offer.id]
    assert listed.json()[0]["status"] == "offered"

    done = client.post(
        f"/api/offers/{offer.id}/claim",
        headers=_auth(keys["claims"]),
        json={"customer_id": customer},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "claimed" and done.json()["currency"] == offer.currency
    assert credits_for(engine, offer.id) == 1
    again = client.post(f"/api/offers/{offer.id}/claim", headers=_auth(keys["claims"]))
    assert again.status_code == 409 and "already_claimed" in again.json()["error"]["message"]
    assert credits_for(engine, offer.id) == 1
    still_open = client.get(
        f"/api/customers/{customer}/offers?open=true", headers=_auth(keys["claims"])
    )
    assert still_open.json() == []
    # The link now says it was claimed, as it would after a press of its own button.
    assert client.get(links[0].path).status_code == 200


def test_only_a_claims_key_may_and_only_for_the_offers_customer(engine, site):
    client, _, links = site
    keys = _keys(engine)
    offer = offer_of(engine, links[0])
    other = customer_of(engine, links[1])
    for role in ("viewer", "operator"):
        refused = client.post(f"/api/offers/{offer.id}/claim", headers=_auth(keys[role]))
        assert refused.status_code == 403, role
    assert client.post(f"/api/offers/{offer.id}/claim").status_code == 401
    # A claims key reads nothing else.
    assert client.get("/api/incidents", headers=_auth(keys["claims"])).status_code == 403
    wrong = client.post(
        f"/api/offers/{offer.id}/claim", headers=_auth(keys["claims"]), json={"customer_id": other}
    )
    assert wrong.status_code == 404
    assert credits_for(engine, offer.id) == 0
    # An id beyond any the database holds is a bad request, not a server error.
    for huge in (2**63, -1, 0):
        answer = client.post(f"/api/offers/{huge}/claim", headers=_auth(keys["claims"]))
        assert answer.status_code == 422, (huge, answer.text)


def test_after_the_deadline_the_site_is_refused_as_the_link_is(engine, site):
    client, clock, links = site
    keys = _keys(engine)
    offer = offer_of(engine, links[0])
    clock.instant = offer.expires_at + timedelta(seconds=1)
    late = client.post(f"/api/offers/{offer.id}/claim", headers=_auth(keys["claims"]))
    assert late.status_code == 409 and "expired" in late.json()["error"]["message"]
    assert credits_for(engine, offer.id) == 0


def test_the_site_and_the_claim_page_racing_for_one_offer_make_one_credit(engine, site):
    client, _, links = site
    keys = _keys(engine)
    link = links[0]
    offer = offer_of(engine, link)
    csrf = CSRF.search(client.get(link.path).text).group(1)

    def by_site(_: int) -> int:
        return client.post(
            f"/api/offers/{offer.id}/claim", headers=_auth(keys["claims"])
        ).status_code

    def by_link(_: int) -> int:
        return client.post(link.path, data={"csrf": csrf}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        site_answers = list(pool.map(by_site, range(5)))
        link_answers = pool.map(by_link, range(5))
        answers = site_answers + list(link_answers)
    assert credits_for(engine, offer.id) == 1
    assert site_answers.count(200) <= 1
    assert all(a in (200, 303, 409) for a in answers), answers
