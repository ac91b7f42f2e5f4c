"""How long a text message is: its encoding, its size and how many parts it is sent in.

A text message carries 140 bytes. Text written only with the GSM 03.38 default
alphabet is packed seven bits a character (GSM-7), so 160 characters fit; any other
character sends the whole text as UTF-16 (called UCS-2 by the SMS specifications),
so only 70 fit. A longer text is split into parts that each give up a few bytes to a
header saying how to join them again: 153 GSM-7 characters or 67 UTF-16 units a part.

Two things cannot be cut in half at a part boundary: a character of the GSM-7
extension table, sent as an escape code followed by the character's code, and a
character outside the Basic Multilingual Plane (most emoji), sent as a surrogate
pair. When one would straddle the boundary, the whole of it moves to the next part,
so a text can need one part more than its size divided by 153 or 67 suggests.

The empty text is counted as 0 units in 0 segments: there is nothing to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The GSM 03.38 default alphabet, sixteen codes a row, in code order 0x00 to 0x7F.
# Code 0x1B is the escape to the extension table, not a character: it is written in
# its place to keep the rows aligned, then taken out of the set.
_BASIC_ROWS = (
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
)
GSM_BASIC: frozenset[str] = frozenset("".join(_BASIC_ROWS)) - {"\x1b"}

# The extension table: each of these is sent as the escape code and a second code, so
# it takes two septets. Form feed is listed by the standard as a page break.
GSM_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

SINGLE_GSM7 = 160
PART_GSM7 = 153
SINGLE_UCS2 = 70
PART_UCS2 = 67


@dataclass(frozen=True)
class SmsLength:
    """The size of one text message.

    ``units`` is the number of septets for GSM-7 (an extension-table character counts
    two) or of UTF-16 code units for UCS-2 (an emoji outside the Basic Multilingual
    Plane counts two). ``segments`` is 1 when the units fit one message (160 or 70),
    else the number of parts, packed 153 or 67 to a part without splitting a
    character; it is 0 for the empty text.
    """

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 alphabet or its extension."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def _gsm7_cost(ch: str) -> int:
    return 2 if ch in GSM_EXTENSION else 1


def _ucs2_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _parts(costs: list[int], per_part: int) -> int:
    """How many parts of at most ``per_part`` units hold these characters, in order,
    when no character may be split between two parts."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def sms_length(text: str) -> SmsLength:
    """The encoding, the size in units and the number of segments of ``text``.

    The text is measured exactly as given: no character is replaced by a look-alike
    (a curly quote or a non-breaking space makes the whole text UCS-2).
    """
    if is_gsm7(text):
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
        costs = [_gsm7_cost(ch) for ch in text]
        single, per_part = SINGLE_GSM7, PART_GSM7
    else:
        encoding = "UCS-2"
        costs = [_ucs2_cost(ch) for ch in text]
        single, per_part = SINGLE_UCS2, PART_UCS2
    units = sum(costs)
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = _parts(costs, per_part)
    return SmsLength(encoding=encoding, units=units, segments=segments)
