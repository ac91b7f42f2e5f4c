"""Letters filled in from parts rendered once: what a sender renders per message.

Most of a letter is the same for every reader of one template set, incident and
offer: the layout, the sentences, the company, the incident in the reader's zone.
Only a few values are the reader's own (their name and address, their amount and
statement date, their claim link and its deadline, their orders). So, for each
combination of everything else, the three templates are rendered once with a marker
in place of each of those values, split at the markers, and every later letter is
the parts joined around its own values: the same text Jinja would have produced,
without running the templates again.

The parts are trusted only when every check below holds, and a letter is rendered
in full otherwise (the same as with no cache at all):

- a reader's value is only ever written out: comparing it, measuring it, slicing it
  or calling its methods stops the build; truth tests are answered, and whether
  each value is empty is part of the key;
- every time a template turned a marker into text, that marker reached the output
  unchanged, and nothing else that looks like a marker did;
- the parts come out the same with markers of very different lengths;
- the first letter of each key, rendered in full, is identical to its filled parts;
- a value with a character HTML escapes (``& < > " '``) or with white space at
  either end is never filled in: such a letter is rendered in full.

These checks catch the usual ways a template could make a letter depend on a value
beyond writing it out, but not every way (a width in a format string, say). So only
makegood's own templates, each tested against its full render, are rendered from
parts: with ``templates_dir`` set, every letter is rendered in full.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

# The context's sections whose non-empty text is the reader's own (see letters.context).
OWN = frozenset({"customer", "credit", "claim", "shipments"})
# Characters HTML escapes, or white space at either end.
AWKWARD = re.compile("[&<>\"']|^\\s|\\s\\Z").search
MARK = re.compile("\ue000v(\\d+)(?:Zq)+\ue001")
LIMIT = 4096  # keys kept before the cache starts afresh
PARTS = ("subject", "text", "html")

Outputs = dict[str, str]  # subject, text and HTML as the templates wrote them


class NotCacheable(Exception):
    """A template did something with a reader's value other than write it out."""


class Slot:
    """Stands in for one of the reader's values while the parts are rendered."""

    __slots__ = ("marker", "uses")

    def __init__(self, marker: str) -> None:
        self.marker, self.uses = marker, 0

    def __str__(self) -> str:
        self.uses += 1
        return self.marker

    def __bool__(self) -> bool:
        return True  # empty values are never slots

    def __format__(self, spec: str) -> str:
        if spec:
            self._misused()
        return str(self)

    def _misused(self, *args: object) -> NoReturn:
        raise NotCacheable("a template used a reader's value other than by writing it")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _misused
    __hash__ = __len__ = __iter__ = __contains__ = __getitem__ = _misused
    __add__ = __radd__ = __mul__ = __rmul__ = __mod__ = __rmod__ = _misused
    __int__ = __float__ = __index__ = __round__ = __reversed__ = _misused


class _Own:
    """The place of one of the reader's values in a frozen context."""

    __slots__ = ()


OWN_VALUE = _Own()


def freeze(context: dict[str, Any], values: list[str]) -> tuple[Any, ...]:
    """The context as a key, with the reader's own text taken out into ``values``."""
    return tuple([(k, _freeze(v, k in OWN, values)) for k, v in context.items()])


def _freeze(value: Any, own: bool, values: list[str]) -> Any:
    kind = type(value)
    if kind is str:
        if not own or not value:
            return value
        if AWKWARD(value):
            raise NotCacheable("a value HTML would escape, or with white space at an end")
        values.append(value)
        return OWN_VALUE
    if kind is dict:
        items = tuple(value.items())
        if all(type(v) is str or v is None for _, v in items):  # the usual: flat text
            return (dict, _own_text(items, values) if own else items)
        return (dict, tuple([(k, _freeze(v, own, values)) for k, v in items]))
    if kind is list:
        return (list, tuple([_freeze(v, own, values) for v in value]))
    if value is None or kind in (int, bool):
        return value
    raise NotCacheable(f"a {kind.__name__} in the context")


def _own_text(items: tuple[tuple[str, str | None], ...], values: list[str]) -> tuple[Any, ...]:
    """A flat dict's items of the reader's own, each non-empty text taken out."""
    out: list[tuple[str, Any]] = []
    for key, value in items:
        if value:
            if AWKWARD(value):
                raise NotCacheable("a value HTML would escape, or with white space at an end")
            values.append(value)
            out.append((key, OWN_VALUE))
        else:
            out.append((key, value))
    return tuple(out)


def thaw(frozen: tuple[Any, ...], slots: Iterator[Slot]) -> dict[str, Any]:
    """A context like the frozen one, with a slot for each of the reader's values."""
    return {k: _thaw(v, slots) for k, v in frozen}


def _thaw(frozen: Any, slots: Iterator[Slot]) -> Any:
    if frozen is OWN_VALUE:
        return next(slots)
    if type(frozen) is tuple:
        kind, items = frozen
        if kind is dict:
            return {k: _thaw(v, slots) for k, v in items}
        return [_thaw(v, slots) for v in items]
    return frozen


@dataclass(frozen=True)
class Part:
    """One template's output: text pieces, with the reader's values to go at ``holes``
    (position in ``pieces``, index of the value)."""

    pieces: tuple[str, ...]
    holes: tuple[tuple[int, int], ...]

    def fill(self, values: list[str]) -> str:
        if not self.holes:
            return self.pieces[0]
        out = list(self.pieces)
        for at, index in self.holes:
            out[at] = values[index]
        return "".join(out)


def _split(text: str) -> Part:
    pieces: list[str] = []
    holes: list[tuple[int, int]] = []
    last = 0
    for found in MARK.finditer(text):
        pieces.append(text[last : found.start()])
        holes.append((len(pieces), int(found.group(1))))
        pieces.append("")
        last = found.end()
    pieces.append(text[last:])
    if any("\ue000" in p or "\ue001" in p for p in pieces):
        raise NotCacheable("a template changed a marker")
    return Part(tuple(pieces), tuple(holes))


Render = Callable[[dict[str, Any]], Outputs]


def build(frozen: tuple[Any, ...], count: int, render: Render) -> dict[str, Part]:
    """The parts for one key, or NotCacheable (any failure of the templates included)."""
    built = []
    for repeat in (1, 40):
        slots = [Slot(f"\ue000v{i}{'Zq' * repeat}\ue001") for i in range(count)]
        try:
            outputs = render(thaw(frozen, iter(slots)))
        except NotCacheable:
            raise
        except Exception as exc:  # the full render will say what is wrong, if anything
            raise NotCacheable(str(exc)) from None
        parts = {name: _split(outputs[name]) for name in PARTS}
        written = [0] * count
        for part in parts.values():
            for _, index in part.holes:
                written[index] += 1
        if written != [slot.uses for slot in slots]:
            raise NotCacheable("a template turned a reader's value into text it did not write")
        built.append(parts)
    if built[0] != built[1]:
        raise NotCacheable("the parts depend on the length of a reader's value")
    return built[0]


class LetterParts:
    """Parts per (kind, template set, everything but the reader's own values)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[Any, ...], dict[str, Part] | None] = {}

    def outputs(self, kind: str, locale: str, context: dict[str, Any], render: Render) -> Outputs:
        """What ``render(context)`` returns, from parts where they can be trusted."""
        values: list[str] = []
        try:
            key = (kind, locale, freeze(context, values))
        except NotCacheable:
            return render(context)
        if key not in self._parts:
            return self._first(key, values, context, render)
        parts = self._parts[key]
        if parts is None:
            return render(context)
        return {name: part.fill(values) for name, part in parts.items()}

    def _first(
        self, key: tuple[Any, ...], values: list[str], context: dict[str, Any], render: Render
    ) -> Outputs:
        """Build the parts of a new key and check them against this letter in full."""
        outputs = render(context)  # a broken template fails here, as it always did
        try:
            parts: dict[str, Part] | None = build(key[2], len(values), render)
        except NotCacheable:
            parts = None
        if parts is not None and {n: p.fill(values) for n, p in parts.items()} != outputs:
            parts = None
        if len(self._parts) >= LIMIT:
            self._parts.clear()
        self._parts[key] = parts
        return outputs
