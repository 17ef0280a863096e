"""The typed error hierarchy of crmscore.

Every error carries a user-facing ``message`` and a ``hint`` saying what to do next. Foreign exceptions
(DuckDB, SQLAlchemy, scipy, openpyxl ...) are translated at the layer edge with ``raise ... from exc``.
The CLI prints ``Error: <message>`` (plus the hint) and exits 1; the REST API renders :meth:`to_dict`.

>>> err = UnknownName("metric", "monetory_365d", ["monetary_365d", "recency_days"])
>>> print(err.message)
unknown metric 'monetory_365d'
>>> err.hint
"did you mean 'monetary_365d'?"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "ConfigIssue",
    "ConvergenceError",
    "CrmscoreError",
    "DataError",
    "EngineError",
    "ImportFailed",
    "InputFileError",
    "MissingColumnsError",
    "ModelError",
    "NotFittedError",
    "NotFound",
    "PermissionDenied",
    "UnknownName",
    "WarehouseError",
    "WorkspaceError",
    "WorkspaceInUse",
    "suggest",
]


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """Closest candidate to ``name`` (for 'did you mean ...?' hints), or None.

    >>> suggest("monetory", ["monetary", "recency"])
    'monetary'
    """
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class CrmscoreError(Exception):
    """Base class: a problem the user can act on."""

    status_code = 400
    code = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status_code, "code": self.code, "message": self.message, "hint": self.hint,
                "errors": []}


class UnknownName(CrmscoreError):
    """A name (metric, scorecard, table kind, segment ...) that does not exist."""

    status_code = 404
    code = "unknown_name"

    def __init__(self, what: str, name: str, known: Iterable[str] = ()) -> None:
        known = list(known)
        close = suggest(name, known)
        if close:
            hint = f"did you mean {close!r}?"
        elif known:
            hint = "known: " + ", ".join(sorted(known)[:20])
        else:
            hint = None
        super().__init__(f"unknown {what} {name!r}", hint)
        self.what, self.name, self.known = what, name, known


class NotFound(CrmscoreError):
    status_code = 404
    code = "not_found"


class PermissionDenied(CrmscoreError):
    status_code = 403
    code = "forbidden"


class AuthenticationFailed(CrmscoreError):
    status_code = 401
    code = "unauthenticated"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration document: where (``dimensions[2].criteria[0].metric``), what, and a fix."""

    path: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text}; {self.suggestion}" if self.suggestion else text


class ConfigError(CrmscoreError):
    """A configuration document (scorecard, mapping, settings) with one or more problems, all listed."""

    status_code = 422
    code = "invalid_config"

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        n = len(self.issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{source}: {n} problem{'s' if n != 1 else ''}\n{lines}",
                         "fix every listed problem and validate again")

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["message"] = f"{self.source}: {len(self.issues)} problem(s)"
        body["errors"] = [{"field": i.path, "message": i.message, "suggestion": i.suggestion} for i in self.issues]
        return body


class WorkspaceError(CrmscoreError):
    code = "workspace"


class WorkspaceInUse(WorkspaceError):
    status_code = 409
    code = "workspace_in_use"


class WarehouseError(CrmscoreError):
    status_code = 500
    code = "warehouse"


class InputFileError(CrmscoreError):
    """A file that cannot be read at all: missing, binary junk, undecodable, truncated, no header."""

    code = "input_file"


class MissingColumnsError(CrmscoreError):
    """A table lacks columns a function or import needs; the message names them."""

    code = "missing_columns"

    def __init__(self, where: str, missing: Sequence[str], available: Sequence[str] = ()) -> None:
        self.missing = list(missing)
        hints = []
        for col in self.missing:
            close = suggest(col, available)
            if close:
                hints.append(f"{col!r} (did you mean {close!r}?)")
        hint = ("; ".join(hints)) if hints else (
            f"available columns: {', '.join(available)}" if available else None)
        super().__init__(f"{where}: missing required column(s) {', '.join(map(repr, self.missing))}", hint)


class DataError(CrmscoreError):
    """Data that breaks a rule (values out of range, inconsistent tables)."""

    code = "data"


class ImportFailed(CrmscoreError):
    """An import that was refused; the workspace is unchanged. ``report`` holds the full import report."""

    code = "import_failed"

    def __init__(self, message: str, hint: str | None = None, report: Any = None) -> None:
        super().__init__(message, hint)
        self.report = report


class EngineError(CrmscoreError):
    code = "engine"


class ModelError(CrmscoreError):
    code = "model"


class NotFittedError(ModelError):
    """An estimator used before ``fit``."""

    code = "not_fitted"

    def __init__(self, estimator: object) -> None:
        name = type(estimator).__name__
        super().__init__(f"this {name} instance is not fitted yet", f"call {name}.fit(...) first")


class ConvergenceError(ModelError):
    code = "convergence"
