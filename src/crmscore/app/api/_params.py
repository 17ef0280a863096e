"""Shared request-parameter checks for the routers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from fastapi import Path

from crmscore.app.errors import FieldError

__all__ = ["IdPath", "clean_text", "clean_texts"]

# control characters and lone surrogates (not encodable as UTF-8)
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_TEXT = 200

# Database ids: bounded so that huge numbers are a 422, not an overflow in the database driver.
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


def clean_text(field: str, value: str | None) -> str | None:
    """``value`` if it is a plain short text; a 422 field error for control characters or overlong text."""
    if value is None:
        return None
    if len(value) > MAX_TEXT:
        raise FieldError([(field, f"at most {MAX_TEXT} characters")])
    if _CONTROL.search(value):
        raise FieldError([(field, "must not contain control characters")])
    return value


def clean_texts(field: str, values: Iterable[str] | None) -> list[str]:
    return [v for v in (clean_text(field, x) for x in (values or [])) if v is not None]
