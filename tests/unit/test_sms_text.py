"""Counting a text message: GSM-7 or UCS-2, its units and its parts."""

from __future__ import annotations

import pytest

from makegood.messaging.sms_text import GSM_BASIC, GSM_EXTENSION, SmsLength, sms_length


@pytest.mark.parametrize(
    ("size", "segments"),
    [(1, 1), (153, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_plain_english_packs_160_then_153_a_part(size, segments):
    assert sms_length("a" * size) == SmsLength("GSM-7", size, segments)


def test_the_empty_text_is_no_message():
    assert sms_length("") == SmsLength("GSM-7", 0, 0)


def test_the_tables_hold_what_gsm_03_38_holds():
    assert len(GSM_BASIC) == 127  # 128 codes, less the escape
    assert len(GSM_EXTENSION) == 10
    assert "\x1b" not in GSM_BASIC
    assert GSM_BASIC.isdisjoint(GSM_EXTENSION)
    for ch in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r":
        assert ch in GSM_BASIC, ch


@pytest.mark.parametrize("ch", list("^{}\\[~]|€\f"))
def test_an_extension_character_counts_two(ch):
    assert sms_length(ch) == SmsLength("GSM-7", 2, 1)
    assert sms_length("a" * 158 + ch) == SmsLength("GSM-7", 160, 1)
    assert sms_length("a" * 159 + ch) == SmsLength("GSM-7", 161, 2)


def test_the_euro_sign_stays_gsm7():
    assert sms_length("0,45 €").encoding == "GSM-7"
    assert sms_length("0,45 €").units == 7


def test_an_escape_pair_is_never_split_between_parts():
    # The euro sign would take septets 153 and 154: the whole pair opens part two, so
    # part one carries 152 and part two 153, and the last "a" needs a third part.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_length(text) == SmsLength("GSM-7", 306, 3)
    # The same units with the pair inside part one pack into two.
    assert sms_length("€" + "a" * 304) == SmsLength("GSM-7", 306, 2)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Ç", "GSM-7"),  # code 0x09 is the capital C with cedilla
        ("ç", "UCS-2"),  # its small letter is not in the table
        ("é", "GSM-7"),
        ("á", "UCS-2"),
        ("ñ", "GSM-7"),
        ("ã", "UCS-2"),
        ("ß", "GSM-7"),
        ("’", "UCS-2"),  # a curly apostrophe
        ("\xa0", "UCS-2"),  # a no-break space
        ("\t", "UCS-2"),
    ],
)
def test_one_character_outside_the_alphabet_makes_the_whole_text_ucs2(text, encoding):
    assert sms_length("Hello " + text).encoding == encoding


@pytest.mark.parametrize(
    ("size", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_japanese_packs_70_then_67_a_part(size, segments):
    assert sms_length("お" * size) == SmsLength("UCS-2", size, segments)


def test_an_emoji_counts_two_units():
    assert sms_length("😀") == SmsLength("UCS-2", 2, 1)
    assert sms_length("a" * 68 + "😀") == SmsLength("UCS-2", 70, 1)
    assert sms_length("a" * 69 + "😀") == SmsLength("UCS-2", 71, 2)


def test_a_surrogate_pair_is_never_split_between_parts():
    # The emoji would take units 67 and 68: it opens part two instead, so the 134 units
    # take three parts (66, 67 and 1).
    text = "お" * 66 + "😀" + "お" * 66
    assert sms_length(text) == SmsLength("UCS-2", 134, 3)
    assert sms_length("😀" + "お" * 132) == SmsLength("UCS-2", 134, 2)


def test_a_japanese_apology():
    text = "昨夜はサービスが停止し、大変ご迷惑をおかけしました。申し訳ございません。"
    assert sms_length(text) == SmsLength("UCS-2", 36, 1)
    assert sms_length(text * 2) == SmsLength("UCS-2", 72, 2)


def test_an_english_apology():
    text = "Sorry we let you down last night. We took $0.45 off your next bill."
    assert sms_length(text) == SmsLength("GSM-7", 67, 1)
    longer = text + " Questions? Call us on 0800 123 456 [8am-8pm] and we will help."
    # 67 + 63 septets, of which the brackets count two each.
    assert sms_length(longer) == SmsLength("GSM-7", 132, 1)
    assert sms_length(longer + " " + text) == SmsLength("GSM-7", 200, 2)
