"""Input hygiene in one place: every request body the API parses, and every query string,
passes these checks before any serializer, query or service sees it. What they refuse would
otherwise reach PostgreSQL and answer 500: a NUL character (text columns cannot hold one), a
lone surrogate (not encodable as UTF-8), an integer no column holds (above 64 bits), a number
that overflowed to infinity, and nesting deeper than MAX_DEPTH (deep enough, further on, to
exhaust Python's recursion).

Each refusal is a 400 naming the field path, like a serializer's errors."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from django.http import JsonResponse, QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_DEPTH = 64
# The widest integer column (bigint); a serializer that knows a narrower column says so with
# its own max_value.
MAX_INT = 2**63 - 1

_UNSAFE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
# A JSON body can only carry a NUL or a lone surrogate as a \u escape (raw NULs are invalid
# JSON, raw surrogates invalid UTF-8): without one, no string needs looking at.
_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# Only a number with 19 or more digits can exceed 64 bits, and only one with a three-digit
# exponent can overflow a float: without one, numbers are parsed at C speed. Found with
# bytes.find over the text with every digit made 0 (a regex is 50 times slower here).
_FOLD_DIGITS = bytes.maketrans(b"123456789E", b"000000000e")
_LONG_NUMBER_MARKS = (b"0" * 19, b"e000", b"e+000", b"e-000")


def _may_hold_a_long_number(text: str) -> bool:
    folded = text.encode("utf-8", "surrogatepass").translate(_FOLD_DIGITS)
    return any(mark in folded for mark in _LONG_NUMBER_MARKS)


_CONTAINERS = frozenset({dict, list})


class _OutOfRange(str):
    """Stands in for a number the parser refused to build, until its path is known."""


def _describe(text: str) -> str:
    match = _UNSAFE_CHARACTER.search(text)
    if match is None:
        return ""
    if match.group() == "\x00":
        return "contains a NUL character"
    return "contains a lone surrogate (not valid Unicode)"


def _printable(key: str) -> str:
    # The error body names the field: escape what made it unsafe, or rendering it would fail.
    return _UNSAFE_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _problems(value: Any, *, root: str = "") -> Iterator[tuple[str, str]]:
    """(field path, problem) for every unsafe string, key or number, without recursion."""
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _OutOfRange):
            yield path or "non_field_errors", str(item)
        elif isinstance(item, str):
            problem = _describe(item)
            if problem:
                yield path or "non_field_errors", problem
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = _join(path, _printable(str(key)))
                problem = _describe(str(key))
                if problem:
                    yield child_path, f"field name {problem}"
                stack.append((child, child_path))
        elif isinstance(item, list | tuple):
            stack.extend((child, _join(path, str(index))) for index, child in enumerate(item))


def refuse_unsafe(value: Any) -> None:
    """Raise a 400 listing every unsafe string, key or number in ``value``."""
    errors: dict[str, list[str]] = {}
    for path, problem in _problems(value):
        errors.setdefault(path, []).append(problem)
    if errors:
        raise ValidationError(dict(sorted(errors.items())))


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit``: level by level, not by recursion."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        below = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below.extend(child for child in children if type(child) in _CONTAINERS)
        if not below:
            return False
        level = below
    return True


def _parse_int(text: str) -> int | _OutOfRange:
    # Python refuses to build an int of more than 4,300 digits: look at the length first.
    number = int(text) if len(text.lstrip("-")) <= 19 else None
    if number is None or abs(number) > MAX_INT:
        return _OutOfRange(f"integer out of range (more than {MAX_INT} in magnitude)")
    return number


def _parse_float(text: str) -> float | _OutOfRange:
    number = float(text)
    if not math.isfinite(number):
        return _OutOfRange("number out of range (it overflows to infinity)")
    return number


def _strict_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_TOO_DEEP = {"non_field_errors": [f"nested deeper than {MAX_DEPTH} levels"]}


def load_json(text: str) -> Any:
    """``json.loads`` that refuses what the database or Python cannot take (module doc)."""
    out_of_range = False

    def parse_int(value: str) -> int | _OutOfRange:
        nonlocal out_of_range
        number = _parse_int(value)
        out_of_range = out_of_range or isinstance(number, _OutOfRange)
        return number

    def parse_float(value: str) -> float | _OutOfRange:
        nonlocal out_of_range
        number = _parse_float(value)
        out_of_range = out_of_range or isinstance(number, _OutOfRange)
        return number

    hooks = {"parse_int": parse_int, "parse_float": parse_float}
    try:
        data = json.loads(
            text,
            parse_constant=_strict_constant,
            **(hooks if _may_hold_a_long_number(text) else {}),
        )
    except RecursionError as exc:
        # The C scanner checks its recursion: a body nested thousands deep stops here.
        raise ValidationError(_TOO_DEEP) from exc
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from exc
    if text.count("[") + text.count("{") > MAX_DEPTH and _nested_deeper_than(data, MAX_DEPTH):
        raise ValidationError(_TOO_DEEP)
    if out_of_range or _SUSPICIOUS_ESCAPE.search(text):
        refuse_unsafe(data)
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the checks of :func:`load_json` (the default parser)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}") from exc
        return load_json(text)


def _refuse_unsafe_form(data: QueryDict) -> None:
    # A repeated parameter is named with the index of the offending value.
    refuse_unsafe({key: values[0] if len(values) == 1 else values for key, values in data.lists()})


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse_unsafe_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_unsafe_form(parsed.data)
        return parsed


class QueryStringHygieneMiddleware:
    """The same refusal for query strings (filters reach the database as they are)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("QUERY_STRING"):
            try:
                _refuse_unsafe_form(request.GET)
            except ValidationError as exc:
                return JsonResponse(exc.detail, status=400)
        return self.get_response(request)
