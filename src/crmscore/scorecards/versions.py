"""Published scorecard versions in the app database (``scorecard_versions``): immutable, content-hashed.

- :func:`publish` stores the YAML with the sha256 of the parsed spec's canonical JSON; the version number
  increments per name; publishing identical content again is a no-op that returns the existing version.
- :func:`resolve` turns ``NAME``, ``NAME@VERSION`` or nothing (the default scorecard) into a spec, its
  version and hash — what every scoring run records.
- :func:`preview` scores the workspace's current data with a draft and compares it with the published
  version of the same name: grade distribution and the customers whose grade would change.

>>> import tempfile, pathlib
>>> from crmscore.workspace import Workspace
>>> from crmscore.scorecards.validate import read_scorecard
>>> ws = Workspace.init(pathlib.Path(tempfile.mkdtemp()) / "ws")
>>> first = publish(ws, read_scorecard("b2c-retail"))
>>> (first.name, first.version, first.created)
('b2c-retail', 1, True)
>>> publish(ws, read_scorecard("b2c-retail")).created  # identical content: the same version
False
>>> spec, version, digest = resolve(ws, "b2c-retail@1")
>>> (spec.name, version, digest == first.content_hash)
('b2c-retail', 1, True)
>>> ws.close()
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import pandas as pd
import yaml
from sqlalchemy import select

from crmscore.errors import NotFound, UnknownName
from crmscore.scorecards.compile import applies, score
from crmscore.scorecards.spec import Scorecard
from crmscore.scorecards.templates import TEMPLATES, template_path
from crmscore.scorecards.validate import load_scorecard, read_scorecard
from crmscore.store.appdb import AuditEvent, ScorecardVersion
from crmscore.workspace import Workspace

__all__ = [
    "Preview",
    "PublishedVersion",
    "current_features",
    "get_version",
    "list_versions",
    "preview",
    "publish",
    "resolve",
]


@dataclass(frozen=True)
class PublishedVersion:
    """One row of ``scorecard_versions`` (``created`` is False when publishing found identical content)."""

    name: str
    version: int
    content_hash: str
    is_default: bool
    published_by: str | None
    published_at: dt.datetime
    created: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _record(row: ScorecardVersion, created: bool = False) -> PublishedVersion:
    return PublishedVersion(row.name, row.version, row.content_hash, bool(row.is_default), row.published_by,
                            row.published_at, created)


def _to_yaml(spec: Scorecard) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), allow_unicode=True,
                          sort_keys=False)


def publish(ws: Workspace, spec: Scorecard, text: str | None = None, *,
            published_by: str | None = None) -> PublishedVersion:
    """Store ``spec`` (and its YAML ``text``, else a YAML dump of the spec) as the next version of its name.

    A spec whose content hash equals an existing version of the same name is not stored again.
    """
    digest = spec.content_hash
    with ws.session() as session, session.begin():
        rows = session.scalars(select(ScorecardVersion).where(ScorecardVersion.name == spec.name)
                               .order_by(ScorecardVersion.version)).all()
        for row in rows:
            if row.content_hash == digest:
                return _record(row)
        row = ScorecardVersion(name=spec.name, version=(rows[-1].version + 1) if rows else 1, content_hash=digest,
                               spec_yaml=text if text is not None else _to_yaml(spec), status="published",
                               is_default=spec.default, published_by=published_by)
        session.add(row)
        session.add(AuditEvent(username=published_by, action="publish", target=f"{spec.name}@{row.version}",
                               source="cli" if published_by is None else None,
                               details={"content_hash": digest}))
        session.flush()
        return _record(row, created=True)


def list_versions(ws: Workspace, name: str | None = None) -> list[PublishedVersion]:
    """Every published version (of ``name``), by name then version."""
    with ws.session() as session:
        query = select(ScorecardVersion).order_by(ScorecardVersion.name, ScorecardVersion.version)
        if name is not None:
            query = query.where(ScorecardVersion.name == name)
        return [_record(r) for r in session.scalars(query).all()]


def get_version(ws: Workspace, name: str, version: int | None = None) -> tuple[Scorecard, PublishedVersion]:
    """A published version (the latest if ``version`` is None) and its spec, re-validated from the YAML."""
    with ws.session() as session:
        query = select(ScorecardVersion).where(ScorecardVersion.name == name)
        if version is not None:
            query = query.where(ScorecardVersion.version == version)
        row = session.scalars(query.order_by(ScorecardVersion.version.desc())).first()
        if row is None:
            known = sorted({v.name for v in list_versions(ws)})
            if version is not None and name in known:
                raise NotFound(f"scorecard {name!r} has no version {version}",
                               "list versions with: crmscore scorecard list")
            raise UnknownName("published scorecard", name, known)
        spec = load_scorecard(row.spec_yaml, source=f"{name}@{row.version}")
        return spec, _record(row)


def resolve(ws: Workspace, ref: str | None = None) -> tuple[Scorecard, int | None, str]:
    """``NAME[@VERSION]`` (or None: the default) -> (spec, published version or None, content hash).

    Without a reference: the latest published version flagged ``default: true``, else the built-in
    ``b2b-default`` template. A name that was never published but is a built-in template resolves to the
    template (version None).
    """
    if ref is None:
        defaults = [v for v in list_versions(ws) if v.is_default]
        if defaults:
            latest = max(defaults, key=lambda v: v.published_at)
            spec, record = get_version(ws, latest.name)
            return spec, record.version, record.content_hash
        spec = read_scorecard("b2b-default")
        return spec, None, spec.content_hash
    name, _, number = ref.partition("@")
    if number and not number.isdigit():
        raise NotFound(f"bad scorecard reference {ref!r}", "write NAME or NAME@VERSION, e.g. b2b-default@2")
    if not number and not list_versions(ws, name) and template_path(name) is not None:
        spec = read_scorecard(name)
        return spec, None, spec.content_hash
    try:
        spec, record = get_version(ws, name, int(number) if number else None)
    except UnknownName:
        if template_path(name) is None:
            raise
        raise UnknownName("published scorecard", name, sorted(TEMPLATES)) from None
    return spec, record.version, record.content_hash


def current_features(ws: Workspace, as_of: dt.date | None = None) -> tuple[ibis.Table, dt.date]:
    """The engine's per-customer table (features and classes) on the workspace's data, and its as-of date
    (given, else the latest order date, else today)."""
    from crmscore.engine import build_customer_table
    from crmscore.schema import TABLES

    wh = ws.warehouse
    tables = {name: wh.table(name) for name in TABLES}
    if as_of is None:
        latest = tables["orders"].order_date.max().execute()
        as_of = dt.date.today() if latest is None or pd.isna(latest) else pd.Timestamp(latest).date()
    table, _ = build_customer_table(tables, as_of)
    return table, as_of


@dataclass
class Preview:
    """What publishing a draft would change, on current data."""

    scorecard: str
    content_hash: str
    as_of: dt.date
    customers: int
    grades: dict[str, int]
    published_version: int | None
    published_grades: dict[str, int] | None
    changed: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    already_published: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preview(ws: Workspace, spec: Scorecard, *, as_of: dt.date | None = None, limit: int = 50,
            features: ibis.Table | None = None) -> Preview:
    """Score current data with ``spec`` and compare with the latest published version of the same name.

    Only customers the scorecard applies to are scored. ``changes`` lists up to ``limit`` customers whose
    grade would change (largest score moves first); ``changed`` counts them all.
    """
    if features is None:
        features, as_of = current_features(ws, as_of)
    day = as_of or dt.date.today()
    features = features.filter(applies(features, spec)) if spec.applies_to.conditions() else features
    draft = score(features, spec).customers.select("customer_id", "score", "grade")
    grades = _distribution(draft, spec)
    published = [v for v in list_versions(ws, spec.name)]
    if not published:
        return Preview(spec.name, spec.content_hash, day, sum(grades.values()), grades, None, None, 0)
    old_spec, record = get_version(ws, spec.name)
    old = score(features, old_spec).customers.select("customer_id", old_score="score", old_grade="grade")
    joined = draft.join(old, "customer_id")
    moved = joined.filter(joined.grade != joined.old_grade)
    changed = int(moved.count().execute())
    top = (moved.mutate(delta=(moved.score - moved.old_score).abs())
           .order_by([ibis.desc("delta"), "customer_id"]).limit(limit)
           .select("customer_id", "old_grade", "grade", "old_score", "score").to_pyarrow().to_pylist())
    changes = [{"customer_id": r["customer_id"], "from_grade": r["old_grade"], "to_grade": r["grade"],
                "from_score": r["old_score"], "to_score": r["score"]} for r in top]
    return Preview(spec.name, spec.content_hash, day, sum(grades.values()), grades, record.version,
                   _distribution(old, old_spec, "old_grade"), changed, changes,
                   already_published=record.content_hash == spec.content_hash)


def _distribution(table: ibis.Table, spec: Scorecard, column: str = "grade") -> dict[str, int]:
    counts = table.group_by(column).aggregate(n=table.count()).to_pyarrow().to_pylist()
    found = {r[column]: int(r["n"]) for r in counts}
    return {band.grade: found.get(band.grade, 0) for band in spec.grade_bands()}
