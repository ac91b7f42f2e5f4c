"""The demo's company: where its customers can call, country by country."""

from __future__ import annotations

from makegood.config import CompanySettings

# The demo company's support lines, one per country it serves (numbers of the kinds
# set aside for fiction or tests where the country has them).
SUPPORT_PHONES = {
    "US": "1-800-555-0100",
    "CA": "1-800-555-0199",
    "GB": "0808 157 0192",
    "DE": "0800 555 0100",
    "FR": "0 800 555 010",
    "JP": "0120-555-010",
    "BR": "0800 555 0190",
    "BH": "8000 5550",
    "default": "+1 212 555 0100",
}

COMPANY = CompanySettings(support_phones=SUPPORT_PHONES)
