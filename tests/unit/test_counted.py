from makegood.core.words import counted


def test_counts_take_the_singular_for_one_and_the_plural_otherwise():
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(8, "entry", "entries") == "8 entries"
    assert counted(0, "problem") == "0 problems"
    assert counted(12_345, "row") == "12,345 rows"
