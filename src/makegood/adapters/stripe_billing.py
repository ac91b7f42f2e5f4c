"""The Stripe billing sink: each ledger entry becomes one pending invoice item on the
customer, which Stripe puts on the customer's next invoice.

A credit is a negative item. A reversal deletes the credit's item while it is still
pending (on no invoice yet), and is otherwise a positive, offsetting item; amounts are
in Stripe's units for the currency (``stripe_amounts``), with metadata
``makegood_credit_id`` (the billing export's credit_id) and ``incident_id``. Before
creating an item the sink looks for one that already carries the entry's
``makegood_credit_id``: a push that died after Stripe's answer and before makegood's
commit finds the item it made instead of making a second. Each create also carries an
``Idempotency-Key`` of the entry, for the library's own retries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import stripe

from makegood.adapters.stripe_amounts import UnsupportedCurrency, from_stripe, to_stripe
from makegood.billing.ports import TAKEN_BACK, BillingItem, Held, Receipt
from makegood.config import Settings
from makegood.core.errors import ConfigurationError
from makegood.core.money import Money

METADATA_KEY = "makegood_credit_id"


class StripeSink:
    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        conf = settings.billing.stripe
        key = conf.api_key.get_secret_value()
        if not key:
            raise ConfigurationError(
                "billing.stripe.api_key is not set; set MAKEGOOD_BILLING__STRIPE__API_KEY "
                "(or api_key_file under [billing.stripe])"
            )
        self.client = stripe.StripeClient(
            key,
            base_addresses={"api": conf.api_base.rstrip("/")},
            max_network_retries=2,
            http_client=stripe.HTTPXClient(
                timeout=settings.billing.timeout_seconds, allow_sync_methods=True
            ),
        )

    def deliver(self, items: Sequence[BillingItem], destination: str) -> list[Receipt]:
        return [self.push(item) for item in items]

    def finish(self) -> None:
        return None

    def push(self, item: BillingItem) -> Receipt:
        """One entry as one invoice item, exactly once however often it is asked."""
        if not item.billing_id:
            return Receipt(
                item.credit_id,
                "failed",
                detail=f"customer {item.customer_id} has no billing_id; add the column "
                "billing_id (cus_...) to the customers file, import it again, then run "
                "billing push --sink stripe --retry-failed",
            )
        try:
            amount = to_stripe(item.amount.minor, item.amount.currency)
        except UnsupportedCurrency as exc:
            return Receipt(item.credit_id, "failed", detail=str(exc))
        if amount.amount == 0:
            # Stripe would take a 0 item, and reconciliation would then find it; the
            # whole amount is a rounding difference, kept with the entry.
            return Receipt(
                item.credit_id,
                "delivered",
                detail=f"{item.amount.major_text} {item.amount.currency} is 0 in Stripe's "
                "steps for the currency: nothing put on the bill, the amount kept as rounding",
                rounding_minor=amount.rounding_minor,
            )
        try:
            made = self._existing(item)
            if made is None and item.reverses and self._deleted(item.reverses):
                return Receipt(item.credit_id, "delivered", reference=TAKEN_BACK + item.reverses)
            if made is None:
                made = self._create(item, -amount.amount, amount.currency)
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise ConfigurationError(
                f"billing.stripe.api_key was refused by Stripe ({_said(exc)})"
            ) from None
        except stripe.StripeError as exc:
            return Receipt(item.credit_id, _outcome(exc), detail=_said(exc))
        return Receipt(
            item.credit_id,
            "delivered",
            reference=str(made["id"]),
            rounding_minor=amount.rounding_minor,
        )

    def _deleted(self, reference: str) -> bool:
        """Take back a credit's item while it is still pending (on no invoice yet);
        False once an invoice holds it, which then needs an offsetting item."""
        try:
            held = self.client.v1.invoice_items.retrieve(reference)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:  # deleted already, by a push that died after it
                return True
            raise
        if held.to_dict().get("invoice"):
            return False
        try:
            self.client.v1.invoice_items.delete(reference)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
        return True

    def _existing(self, item: BillingItem) -> Any:
        listed = self.client.v1.invoice_items.list(
            params={"customer": str(item.billing_id), "limit": 100}
        )
        for found in listed.auto_paging_iter():
            metadata = found.metadata.to_dict() if found.metadata else {}
            if metadata.get(METADATA_KEY) == str(item.credit_id):
                return found
        return None

    def _create(self, item: BillingItem, amount: int, currency: str) -> Any:
        return self.client.v1.invoice_items.create(
            params={
                "customer": str(item.billing_id),
                "amount": amount,
                "currency": currency,
                "description": item.description[:500] or f"Credit {item.credit_id}",
                "metadata": {
                    METADATA_KEY: str(item.credit_id),
                    "incident_id": str(item.incident_id),
                },
            },
            options={"idempotency_key": f"makegood-credit-{item.credit_id}"},
        )

    def holdings(self) -> Iterator[Held]:
        """Every invoice item that carries a makegood credit_id, on any customer."""
        for found in self.client.v1.invoice_items.list(params={"limit": 100}).auto_paging_iter():
            metadata = found.metadata.to_dict() if found.metadata else {}
            if METADATA_KEY not in metadata:
                continue
            currency = str(found.currency).upper()
            yield Held(
                credit_id=str(metadata[METADATA_KEY]),
                reference=str(found.id),
                amount=Money(-from_stripe(int(found.amount), currency), currency),
                billing_id=str(found.customer),
            )


def stripe_sink(settings: Settings) -> StripeSink:
    """The ``stripe`` entry point of ``makegood.billing_sinks``."""
    return StripeSink(settings)


def _outcome(exc: stripe.StripeError) -> Any:
    """Worth asking again (rate limits, timeouts, Stripe's own errors) or not."""
    if isinstance(exc, (stripe.RateLimitError, stripe.APIConnectionError)):
        return "retry"
    status = exc.http_status
    if status is None or status >= 500 or status in (409, 429):
        return "retry"
    return "failed"


def _said(exc: stripe.StripeError) -> str:
    message = exc.user_message or str(exc) or type(exc).__name__
    status = f"HTTP {exc.http_status}: " if exc.http_status else ""
    return f"{status}{message}".strip()[:500]
