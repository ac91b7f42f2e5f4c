"""PostgreSQL COPY's text format, written from Arrow: tabs between fields, a newline
after each row, backslash escapes, \\N for null."""

from __future__ import annotations

import pyarrow as pa

from makegood.db.arrow import arrow_text


def test_the_text_format_escapes_only_what_it_must():
    rows = pa.RecordBatch.from_pydict(
        {"n": pa.array([7, None], pa.int32()), "s": ["a\tb\\c\nd\re", None], "t": ["{}", "x"]}
    )
    assert bytes(arrow_text(rows)) == b"7\ta\\tb\\\\c\\nd\\re\t{}\n\\N\t\\N\tx\n"
    assert bytes(arrow_text(rows.slice(0, 0))) == b""
