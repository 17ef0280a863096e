"""Scoring as warehouse expressions: a features table (one row per customer) + a scorecard -> scores.

:func:`score` builds Ibis expressions only (no per-customer Python): percentiles from counts per distinct
value, constants folded in Python, the largest remainder by a sorting network.

- ``customers``: customer_id, score (0-100, one decimal), grade, ``score_<dimension>`` (0-100) for each
  dimension, scorecard, scorecard_version, scorecard_hash;
- ``points``: one row per customer and criterion (plus one per triggered veto): dimension, criterion, metric,
  value (text), value_num, percentile (1 = best, NULL for labels), points, max_points, explanation_en/zh.

How points are computed. A criterion's method gives a fraction f in [0, 1] (after the missing policy and the
time decay). In a dimension with criterion weights w (normalised), the dimension earns
``S = sum(w * f) / max(sum(w * f), cap * A)`` of its weight, where ``A`` is the weight of criteria with data
(``missing: exclude`` removes a criterion from ``A``; a dimension with no criteria left is removed and the
other dimensions are re-weighted). The points of a criterion are its share of that. Points are rounded to
tenths with the largest-remainder method so that they add up exactly to the (rounded) score (remainders
equal to 2**-30 of a tenth count as a tie, which goes to the earlier criterion). A triggered veto
caps the grade, and the score just below the next better band, with a negative points row explaining it.

>>> import ibis
>>> from crmscore.scorecards.spec import Scorecard
>>> card = Scorecard.model_validate({"name": "mini", "dimensions": [{"name": "value", "criteria": [
...     {"name": "revenue", "metric": "monetary_365d", "method": {"type": "linear", "floor": 0, "cap": 1000}}]}]})
>>> feats = ibis.memtable({"customer_id": ["a", "b"], "monetary_365d": [250.0, 2000.0]})
>>> res = score(feats, card)
>>> res.customers.order_by("customer_id").select("customer_id", "score", "grade").to_pyarrow().to_pylist()
[{'customer_id': 'a', 'score': 25.0, 'grade': 'D'}, {'customer_id': 'b', 'score': 100.0, 'grade': 'A'}]
>>> res.points.order_by("customer_id").explanation_en.to_list()
['+25.0: Net monetary value, 365 days ¥250', '+100.0: Net monetary value, 365 days ¥2,000']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import ibis
import ibis.expr.types as ir

from crmscore.errors import MissingColumnsError
from crmscore.scorecards import explain
from crmscore.scorecards.catalog import Catalog, MetricLike, is_categorical, resolve_catalog
from crmscore.scorecards.expressions import compile_expression, parse
from crmscore.scorecards.spec import Criterion, MissingPolicy, Scorecard

__all__ = ["POINTS_SCHEMA", "ScoreResult", "applies", "required_columns", "score"]

POINTS_SCHEMA = ibis.schema({
    "customer_id": "string", "dimension": "string", "criterion": "string", "metric": "string",
    "value": "string", "value_num": "float64", "percentile": "float64", "points": "float64",
    "max_points": "float64", "explanation_en": "string", "explanation_zh": "string",
})


@dataclass(frozen=True)
class ScoreResult:
    """The outputs of :func:`score` (Ibis expressions on the features' backend): ``customers``, ``points``,
    and ``wide``: the per-customer numeric table both are projections of. :meth:`points_from` renders the
    long points table from a stored copy of ``wide`` (a snapshot stores the compact rows and renders the texts
    when read)."""

    customers: ir.Table
    scorecard: Scorecard
    wide: ir.Table
    plans: tuple[Any, ...]

    @property
    def points(self) -> ir.Table:
        return self.points_from(self.wide)

    def points_from(self, wide: ir.Table) -> ir.Table:
        return _points(wide, list(self.plans), self.scorecard)


@dataclass(frozen=True)
class _Plan:
    key: str
    dim: int
    crit: Criterion
    metric: MetricLike | None
    direction: str
    unit: str
    kind: str  # number | category | any
    weight: float  # normalised within the dimension
    label_en: str
    label_zh: str
    ranked: bool  # percentile computed (percentile method or show_percentile)


def required_columns(spec: Scorecard) -> list[str]:
    """Every feature column a scorecard reads (metrics, expression names, decay and veto metrics).

    >>> from crmscore.scorecards.templates import template_path
    >>> from crmscore.scorecards.validate import read_scorecard
    >>> "max_days_late" in required_columns(read_scorecard(template_path("b2b-default")))
    True
    """
    names: list[str] = []
    for dim in spec.dimensions:
        for crit in dim.criteria:
            names += [crit.metric] if crit.metric else sorted(parse(str(crit.expression)).names)
            if crit.decay:
                names.append(crit.decay.metric)
    for veto in spec.vetoes:
        names += sorted(parse(veto.when).names)
    names += list(spec.applies_to.conditions())
    return list(dict.fromkeys(names))


def applies(features: ir.Table, spec: Scorecard) -> ir.BooleanValue:
    """Whether each customer is covered by the scorecard's ``applies_to`` conditions."""
    cond: ir.BooleanValue = ibis.literal(True)
    for metric, values in spec.applies_to.conditions().items():
        cond = cond & features[metric].cast("string").isin(values).fill_null(False)
    return cond


def _plans(spec: Scorecard, catalog: Catalog) -> list[_Plan]:
    plans = []
    for d, dim in enumerate(spec.dimensions):
        total = sum(c.weight for c in dim.criteria)
        for c, crit in enumerate(dim.criteria):
            metric = catalog.get(crit.metric) if crit.metric else None
            natural = getattr(metric, "direction", "higher") if metric is not None else "higher"
            direction = crit.direction or (natural if natural in ("higher", "lower") else "higher")
            unit = crit.unit or (getattr(metric, "unit", "") if metric is not None else "") or "number"
            kind = crit.method.needs
            if kind == "any" and metric is not None and is_categorical(metric):
                kind = "category"
            plans.append(_Plan(
                key=f"d{d}c{c}", dim=d, crit=crit, metric=metric, direction=direction, unit=unit, kind=kind,
                weight=crit.weight / total,
                label_en=crit.label_en or (metric.label_en if metric is not None else crit.name),
                label_zh=crit.label_zh or (metric.label_zh if metric is not None else crit.name),
                ranked=kind == "number" and (crit.method.type == "percentile" or crit.show_percentile)))
    return plans


def _with_ranks(t: ir.Table, value: ir.Value, base: ir.Table, base_value: ir.Value, key: str) -> ir.Table:
    """``t`` with ``<key>_less``, ``<key>_ties`` and ``<key>_n``: how many customers have a smaller value,
    the same value, and any value (NULLs count in none).

    Counted per distinct value (a GROUP BY, a running sum over the distinct values) and joined back: much
    cheaper than window functions over every customer, which sort all the columns. The counts come from
    ``base`` (``base_value`` is the same value there), never from an earlier join: chaining each criterion's
    counts on the previous join doubles the query at every criterion, which PostgreSQL expands in full.
    """
    rv = f"{key}_rv"
    src = base.select(**{rv: base_value})
    counts = src.filter(src[rv].notnull()).group_by(**{f"{key}_gv": src[rv]}).agg(
        **{f"{key}_ties": ibis._.count()})
    ties = counts[f"{key}_ties"]
    counts = counts.mutate(**{
        f"{key}_less": ties.sum().over(ibis.cumulative_window(order_by=counts[f"{key}_gv"])) - ties,
        f"{key}_n": ties.sum().over(ibis.window())})
    # a view: otherwise Ibis resolves ``value`` to the counts' own column (derived from it) and the join
    # condition becomes ``gv = gv``, a cross join
    counts = counts.view()
    joined = t.left_join(counts, value == counts[f"{key}_gv"])
    return joined.select(*t.columns, f"{key}_less", f"{key}_ties", f"{key}_n")


def _percentile(t: ir.Table, value: ir.Value, key: str, direction: str) -> ir.FloatingValue:
    """Mid-rank percentile among customers with a value: 1 = best, ties share the middle, a lone value 0.5
    (the counts come from :func:`_with_ranks`)."""
    less = t[f"{key}_less"].cast("float64")
    ties = t[f"{key}_ties"].cast("float64")
    n = t[f"{key}_n"].cast("float64")
    worse = less if direction != "lower" else n - (less + ties)
    mid = (worse + (ties - 1) / 2) / (n - 1).nullif(0.0)
    return ibis.ifelse(value.isnull(), ibis.null("float64"), mid.fill_null(0.5))


def _decay_factor(crit: Criterion, t: ir.Table) -> ir.FloatingValue | None:
    decay = crit.decay
    if decay is None:
        return None
    days = t[decay.metric].cast("float64")
    if decay.window_days is not None:
        factor = ibis.ifelse(days <= decay.window_days, 1.0, 0.0)
    else:
        assert decay.period_days is not None and decay.rate is not None
        periods = (ibis.greatest(days, 0.0) / decay.period_days).floor()
        factor = ibis.greatest(1.0 - decay.rate * periods.cast("float64"), 0.0)
    return ibis.ifelse(days.isnull(), 0.0, factor).cast("float64")


def _grade(score: ir.FloatingValue, spec: Scorecard) -> ir.StringValue:
    bands = spec.grade_bands()
    return ibis.cases(*[(score >= b.min, b.grade) for b in bands[:-1]], else_=bands[-1].grade)


def _veto_cap_units(spec: Scorecard, grade: str) -> int | None:
    """Highest score (in tenths) that still gets ``grade`` or worse; None if the grade is the best."""
    bands = spec.grade_bands()
    index = next(i for i, b in enumerate(bands) if b.grade == grade)
    return None if index == 0 else math.ceil(bands[index - 1].min * 10 - 1e-9) - 1


#: a Python float (folded before it reaches SQL) or an Ibis value
_Num: TypeAlias = Any


def _const(x: _Num) -> bool:
    return isinstance(x, float)


def _network(size: int) -> list[list[tuple[int, int]]]:
    """Batcher's odd-even merge sorting network for ``size`` (a power of two) inputs, layer by layer:
    pairs (i, j), i < j, after which position i holds the smaller value."""
    layers = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            layers.append([(i + j, i + j + k) for j in range(k % p, size - k, 2 * k)
                           for i in range(min(k, size - j - k)) if (i + j) // (2 * p) == (i + j + k) // (2 * p)])
            k //= 2
        p *= 2
    return layers


def _kth_largest(t: ir.Table, keys: list[str], k: str, name: str) -> ir.Table:
    """``t`` with column ``name``: the ``t[k]``-th largest of the (distinct, non-negative) integer columns ``keys``, row by row; larger
    than every key when k <= 0, -1 when k exceeds their number. A sorting network of LEAST/GREATEST pairs
    (one select per layer): O(n log^2 n) cheap operations instead of comparing every pair of keys."""
    size = 1 << max(len(keys) - 1, 0).bit_length()
    # DuckDB keeps each layer's columns; PostgreSQL (and Spark) flatten the nested selects and substitute every
    # column by its expression, which doubles at each layer (24 GB of planner memory for 16 keys): there the
    # input and every third layer are materialised.
    try:
        inline = t._find_backend(use_default=True).name == "duckdb"
    except ibis.common.exceptions.IbisError:  # unbound tables: compiled to DuckDB SQL by the caller
        inline = True
    if not inline:
        t = t.cache()
    pos: list[ir.IntegerValue | int] = [t[c] for c in keys] + [-1] * (size - len(keys))  # -1 pads
    for depth, layer in enumerate(_network(size)):
        if not inline and depth and depth % 3 == 0:
            t = t.cache()
            pos = [p if isinstance(p, int) else t[p.get_name()] for p in pos]
        step: dict[str, ir.Value] = {}
        for i, j in layer:
            a, b = pos[i], pos[j]
            if isinstance(a, int) and isinstance(b, int):
                pos[i], pos[j] = min(a, b), max(a, b)
            elif isinstance(b, int) and b == -1:
                pos[i], pos[j] = b, a
            elif not (isinstance(a, int) and a == -1):
                step[f"_n{depth}_{i}"] = ibis.least(a, b)
                step[f"_n{depth}_{j}"] = ibis.greatest(a, b)
        if step:
            t = t.mutate(**step)
            for col in step:
                pos[int(col.rsplit("_", 1)[1])] = t[col]
    rank = t[k]
    big = ibis.literal(2**62, type="int64")
    return t.mutate(**{name: ibis.cases(*[(rank == r, pos[size - r]) for r in range(1, len(keys) + 1)],
                                        else_=ibis.ifelse(rank <= 0, big, ibis.literal(-1, type="int64")))})


def score(features: ir.Table, spec: Scorecard, *, catalog: Catalog | None = None, version: int | None = None,
          id_column: str = "customer_id", cache: bool | Callable[[ir.Table], ir.Table] = False) -> ScoreResult:
    """Score every row of ``features`` (one per customer) with ``spec``; see the module docstring.

    ``version`` (the published version number, if any) and the spec's content hash are recorded in the
    customers table. ``cache=True`` materialises the per-customer numeric table (scores, grades, dimension
    scores and every criterion's value, percentile, points and maximum) once; ``customers`` and ``points``
    are then projections of it (worth it when both outputs are written). A callable instead of ``True`` is
    given that table's expression and returns the table to read instead (e.g. a named table it will hold).
    """
    catalog = resolve_catalog(catalog)
    needed = [id_column, *required_columns(spec)]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise MissingColumnsError(f"scorecard {spec.name!r}", missing, list(features.columns))
    plans = _plans(spec, catalog)
    t = features.select(*needed)

    def value_of(p: _Plan, table: ir.Table) -> ir.Value:
        crit = p.crit
        fields = {c: table[c] for c in needed}
        raw = fields[crit.metric] if crit.metric else compile_expression(str(crit.expression), fields)
        if p.kind == "number":
            return raw.cast("float64")
        return raw.cast("string") if p.kind == "category" else raw

    base = t
    for p in plans:
        if p.ranked:
            t = _with_ranks(t, value_of(p, t), base, value_of(p, base), p.key)
    cols = {c: t[c] for c in needed}

    # 1. per criterion: value, percentile, fraction after the missing policy and the decay (one select)
    step1: dict[str, Any] = {"customer_id": t[id_column].cast("string")}
    for p in plans:
        crit = p.crit
        value = value_of(p, t)
        pct = _percentile(t, value, p.key, p.direction) if p.ranked else None
        frac = crit.method.fraction(value, p.direction, pct)
        absent = value.isnull()
        if crit.missing is MissingPolicy.ZERO:
            filled = ibis.ifelse(absent, 0.0, frac)
        elif crit.missing is MissingPolicy.NEUTRAL:
            filled = ibis.ifelse(absent, crit.neutral_value, frac)
        else:
            filled = ibis.ifelse(absent, ibis.null("float64"), frac)
        factor = _decay_factor(crit, t)
        step1[f"{p.key}_v"] = value
        if pct is not None:
            step1[f"{p.key}_p"] = pct
        if factor is not None:
            step1[f"{p.key}_dec"] = factor
        step1[f"{p.key}_f"] = (filled * factor if factor is not None else filled).cast("float64")
    for j, veto in enumerate(spec.vetoes):
        step1[f"v{j}"] = compile_expression(veto.when, cols).fill_null(False)
    w1 = t.select(**step1)

    # 2. dimensions: earned share S, available weight A (a constant unless a criterion may be excluded),
    #    re-weighting over the available dimensions; raw points and maximum points per criterion
    ndim = len(spec.dimensions)
    dim_total = sum(d.weight for d in spec.dimensions)
    excluded = {p.key: ibis.ifelse(w1[f"{p.key}_v"].isnull(), 0.0, 1.0).cast("float64") for p in plans
                if p.crit.missing is MissingPolicy.EXCLUDE}
    w1 = w1.mutate(**{f"{key}_avail": v for key, v in excluded.items()}) if excluded else w1
    # criterion key -> 1.0, or its 0/1 column when a missing value excludes it
    avail: dict[str, _Num] = {p.key: w1[f"{p.key}_avail"] if p.key in excluded else 1.0 for p in plans}
    s_sum: dict[int, _Num] = {}
    a_sum: dict[int, _Num] = {}
    for d in range(ndim):
        s: _Num = 0.0
        a: _Num = 0.0
        for p in plans:
            if p.dim == d:
                s = s + (w1[f"{p.key}_f"].fill_null(0.0) * p.weight)
                ak = avail[p.key]
                a = a + (ak * p.weight)
        s_sum[d], a_sum[d] = s, a
    inner = {f"D{d}_s": s_sum[d] for d in range(ndim)}
    inner |= {f"D{d}_a": a for d, a in a_sum.items() if not _const(a)}
    w2 = w1.mutate(**inner)
    dim_a: dict[int, _Num] = {d: (w2[f"D{d}_a"] if not _const(a_sum[d]) else a_sum[d]) for d in range(ndim)}
    avail_weight: _Num = 0.0
    for d, dim in enumerate(spec.dimensions):
        share = dim.weight / dim_total
        da = dim_a[d]
        avail_weight = avail_weight + ((share if da > 0 else 0.0) if _const(da)
                            else ibis.ifelse(da > 0, share, 0.0))
    step2: dict[str, Any] = {}
    if not _const(avail_weight):
        step2["_avail_weight"] = avail_weight
    w2 = w2.mutate(**step2) if step2 else w2
    aw: _Num = w2["_avail_weight"] if not _const(avail_weight) else avail_weight
    # constants are folded in Python: two SQL literals multiply as DECIMAL in DuckDB (and may overflow)
    dim_w: dict[int, _Num] = {}
    step2 = {}
    for d, dim in enumerate(spec.dimensions):
        da = dim_a[d]
        share = dim.weight / dim_total
        if _const(da) and _const(aw):
            dim_w[d] = (share / aw if aw != 0 else 0.0) if da > 0 else 0.0
        else:
            has = ibis.literal(da > 0) if _const(da) else da > 0
            denom = ibis.literal(aw) if _const(aw) else aw
            step2[f"D{d}_w"] = ibis.ifelse(has, share / denom.nullif(0.0), 0.0).fill_null(0.0)
        step2[f"D{d}_den"] = ibis.greatest(w2[f"D{d}_s"], (dim.cap or 1.0) * da).nullif(0.0)
    w2 = w2.mutate(**step2)
    dim_w |= {d: w2[f"D{d}_w"] for d in range(ndim) if d not in dim_w}
    step2 = {}
    for d in range(ndim):
        da = dim_a[d]
        frac_d = w2[f"D{d}_s"] / w2[f"D{d}_den"]
        step2[f"D{d}_frac"] = (frac_d if da > 0 else ibis.null("float64")) if _const(da) \
            else ibis.ifelse(da > 0, frac_d, ibis.null("float64"))
    for p in plans:
        d = p.dim
        dw, ak, da = dim_w[d], avail[p.key], dim_a[d]
        coef: _Num = 100.0 * dw * p.weight
        raw_pts = coef * w2[f"{p.key}_f"].fill_null(0.0) / w2[f"D{d}_den"]
        if _const(coef) and _const(ak) and _const(da):
            max_pts: ir.Value = ibis.literal(coef * ak / da if da != 0 else 0.0, type="float64")
        else:
            da_n = (ibis.literal(da) if _const(da) else da).nullif(0.0)
            top = coef * (ak if _const(ak) else w2[f"{p.key}_avail"])
            max_pts = ((ibis.literal(top) if _const(top) else top) / da_n).fill_null(0.0)
        step2[f"{p.key}_raw"] = raw_pts.fill_null(0.0)
        step2[f"{p.key}_max"] = max_pts
    w2 = w2.mutate(**step2)

    # 3. largest remainder: tenths that add up exactly to the rounded total
    step3: dict[str, Any] = {}
    for p in plans:
        tenths = w2[f"{p.key}_raw"] * 10
        step3[f"{p.key}_u"] = tenths.floor().cast("int64")
        step3[f"{p.key}_rem"] = tenths - tenths.floor()
    total = (sum((w2[f"{p.key}_raw"] for p in plans), ibis.literal(0.0)) * 10).round(0).cast("int64")
    step3["total_u"] = ibis.least(total, 1000)
    w3 = w2.mutate(**step3)
    # the criteria with the `rest` largest remainders get one more tenth; equal remainders (to 2**-30 of a
    # tenth, so that float noise does not decide a tie) go to the earlier criterion. Each remainder becomes a
    # unique integer key (the remainder in 2**-30 steps, then the position); a sorting network finds the
    # rest-th largest key and every key at or above it gets the tenth.
    n = len(plans)
    step3 = {"_rest": w3["total_u"] - sum((w3[f"{p.key}_u"] for p in plans), ibis.literal(0))}
    step3 |= {f"{p.key}_key": (w3[f"{p.key}_rem"] * 2.0**30).round(0).cast("int64") * n + (n - 1 - i)
              for i, p in enumerate(plans)}
    w3 = w3.mutate(**step3)
    w3 = _kth_largest(w3, [f"{p.key}_key" for p in plans], "_rest", "_threshold")
    step4: dict[str, Any] = {}
    for p in plans:
        step4[f"{p.key}_pu"] = w3[f"{p.key}_u"] + (w3[f"{p.key}_key"] >= w3["_threshold"]).cast("int32")

    # 4. vetoes: the strictest triggered one caps the score below the next better band
    caps = [_veto_cap_units(spec, v.max_grade) for v in spec.vetoes]
    big = 10**6
    strictest = ibis.least(ibis.literal(big), *[ibis.ifelse(w3[f"v{j}"], cap, big)
                                               for j, cap in enumerate(caps) if cap is not None])
    adjust = ibis.least(strictest - w3["total_u"], 0)
    taken: ir.BooleanValue = ibis.literal(False)
    for j, cap in enumerate(caps):
        if cap is None:
            step4[f"v{j}_u"] = ibis.literal(0)
            continue
        gets = w3[f"v{j}"] & (strictest == cap) & ~taken
        step4[f"v{j}_u"] = ibis.ifelse(gets, adjust, 0)
        taken = taken | gets
    step4["score"] = (w3["total_u"] + adjust).cast("float64") / 10
    keep = ["customer_id", *[f"D{d}_frac" for d in range(ndim)], *[f"v{j}" for j in range(len(spec.vetoes))]]
    for p in plans:
        keep += [f"{p.key}_v", f"{p.key}_max"]
        keep += [f"{p.key}_p"] if p.ranked else []
        keep += [f"{p.key}_dec"] if p.crit.decay is not None else []
    w4 = w3.select(*keep, **step4)
    wide = w4.mutate(grade=_grade(w4["score"], spec))
    if callable(cache):
        wide = cache(wide)
    elif cache:
        wide = wide.cache()

    meta = {"scorecard": ibis.literal(spec.name), "scorecard_version": ibis.literal(version, type="int64"),
            "scorecard_hash": ibis.literal(spec.content_hash)}
    customers = wide.select(
        "customer_id", "score", "grade",
        **{f"score_{dim.name}": (wide[f"D{d}_frac"] * 100).round(1) for d, dim in enumerate(spec.dimensions)},
        **meta)
    return ScoreResult(customers=customers, scorecard=spec, wide=wide, plans=tuple(plans))


_POINT_FIELDS = ("dimension", "criterion", "metric", "value", "value_num", "percentile", "points", "max_points",
                 "explanation_en", "explanation_zh")


def _points(wide: ir.Table, plans: list[_Plan], spec: Scorecard) -> ir.Table:
    """The long points table: every row's fields per criterion/veto as columns, then one unnest."""
    helpers: dict[str, ir.Value] = {}
    for p in plans:
        helpers |= _helpers(wide, p)
    if helpers:
        wide = wide.select(wide, **helpers)
        wide = wide.select(wide, **{f"{p.key}_num": explain.number_text(wide[f"{p.key}_qs"], wide[f"{p.key}_ql"],
                                                                        wide[f"{p.key}_d"], p.unit)
                                    for p in plans if p.kind == "number"})
    rows: list[dict[str, ir.Value]] = [_criterion_fields(wide, p, spec) for p in plans]
    rows += [_veto_fields(wide, j, spec) for j in range(len(spec.vetoes))]
    columns: dict[str, ir.Value] = {"customer_id": wide["customer_id"]}
    constant: dict[str, list[Any]] = {}
    for field in _POINT_FIELDS:
        values = [row[field] for row in rows]
        if all(isinstance(v.op(), ibis.expr.operations.Literal) for v in values):
            constant[field] = [v.op().value for v in values]  # type: ignore[attr-defined]
            continue
        for i, v in enumerate(values):
            columns[f"r{i}_{field}"] = v.cast(POINTS_SCHEMA[field])
    for j in range(len(spec.vetoes)):
        columns[f"hit{len(plans) + j}"] = wide[f"v{j}"]
    pre = wide.select(**columns)
    parts = []
    for i in range(len(rows)):
        part = pre.filter(pre[f"hit{i}"]) if f"hit{i}" in pre.columns else pre
        parts.append(part.select(
            customer_id=part.customer_id,
            **{f: (ibis.literal(constant[f][i], type=POINTS_SCHEMA[f]) if f in constant else part[f"r{i}_{f}"])
               for f in _POINT_FIELDS}))
    return parts[0] if len(parts) == 1 else ibis.union(*parts)


def _helpers(w: ir.Table, p: _Plan) -> dict[str, ir.Value]:
    """Integer parts of the displayed numbers, one level before the strings (keeps the SQL small)."""
    out: dict[str, ir.Value] = {}
    value = w[f"{p.key}_v"]
    if p.kind == "number":
        parts = explain.value_parts(value, p.unit)
        digits = parts["q"].cast("string")
        out[f"{p.key}_qs"] = digits
        out[f"{p.key}_ql"] = digits.length()
        out[f"{p.key}_d"] = parts["d"]
        out[f"{p.key}_neg"] = parts["neg"]
    if p.ranked:
        pct = w[f"{p.key}_p"]
        out[f"{p.key}_top"] = ibis.greatest(((1 - pct) * 100).ceil().cast("int64"), 1)
        out[f"{p.key}_bottom"] = ibis.greatest((pct * 100).ceil().cast("int64"), 1)
    if p.crit.decay is not None:
        out[f"{p.key}_kept"] = (w[f"{p.key}_dec"] * 100).round(0).cast("int64")
    return out


def _criterion_fields(w: ir.Table, p: _Plan, spec: Scorecard) -> dict[str, ir.Value]:
    crit = p.crit
    value = w[f"{p.key}_v"]
    pct = w[f"{p.key}_p"] if p.ranked else ibis.null("float64")
    units = w[f"{p.key}_pu"]
    pts = explain.signed_tenths(units)
    if p.kind == "number":
        shown_en = explain.render_text(w[f"{p.key}_num"], w[f"{p.key}_neg"], p.unit, spec.currency, "en")
        shown_zh = explain.render_text(w[f"{p.key}_num"], w[f"{p.key}_neg"], p.unit, spec.currency, "zh")
    else:
        shown_en = explain.display_value(value, p.unit, spec.currency, "en")
        shown_zh = explain.display_value(value, p.unit, spec.currency, "zh")
    body_en = ibis.literal(f"{p.label_en} ").concat(shown_en)
    body_zh = ibis.literal(f"{p.label_zh} ").concat(shown_zh)
    if p.ranked:
        top, bottom = w[f"{p.key}_top"].cast("string"), w[f"{p.key}_bottom"].cast("string")
        rank_en = ibis.ifelse(pct >= 0.5, ibis.literal(", top ").concat(top, "%"),
                              ibis.literal(", bottom ").concat(bottom, "%"))
        rank_zh = ibis.ifelse(pct >= 0.5, ibis.literal("，前").concat(top, "%"),
                              ibis.literal("，后").concat(bottom, "%"))
        body_en = body_en.concat(rank_en.fill_null(""))
        body_zh = body_zh.concat(rank_zh.fill_null(""))
    missing_en, missing_zh = {
        MissingPolicy.NEUTRAL: ("no data (neutral)", "无数据（按中性计分）"),
        MissingPolicy.ZERO: ("no data", "无数据"),
        MissingPolicy.EXCLUDE: ("no data, left out and the other criteria re-weighted", "无数据，已剔除并重新分配权重"),
    }[crit.missing]
    absent = value.isnull()
    body_en = ibis.ifelse(absent, ibis.literal(f"{p.label_en}: {missing_en}"), body_en)
    body_zh = ibis.ifelse(absent, ibis.literal(f"{p.label_zh}：{missing_zh}"), body_zh)
    if crit.decay is not None:
        dec = w[f"{p.key}_dec"]
        kept = w[f"{p.key}_kept"].cast("string")
        note_en = ibis.literal("; decayed to ").concat(kept, f"% ({crit.decay.metric})")
        note_zh = ibis.literal("；因未活跃衰减至").concat(kept, "%")
        body_en = ibis.ifelse(dec < 1, body_en.concat(note_en), body_en)
        body_zh = ibis.ifelse(dec < 1, body_zh.concat(note_zh), body_zh)
    value_num = value.cast("float64") if p.kind == "number" else (
        value.cast("float64") if value.type().is_boolean() or value.type().is_numeric() else ibis.null("float64"))
    return dict(
        dimension=ibis.literal(spec.dimensions[p.dim].name),
        criterion=ibis.literal(crit.name),
        metric=ibis.literal(crit.source),
        value=shown_en,
        value_num=value_num,
        percentile=pct,
        points=units.cast("float64") / 10,
        max_points=w[f"{p.key}_max"].round(1),
        explanation_en=pts.concat(": ", body_en),
        explanation_zh=pts.concat("：", body_zh),
    )


def _veto_fields(w: ir.Table, j: int, spec: Scorecard) -> dict[str, ir.Value]:
    veto = spec.vetoes[j]
    reason_en = veto.reason_en or veto.when
    reason_zh = veto.reason_zh or veto.when
    units = w[f"v{j}_u"]
    pts = explain.signed_tenths(units)
    return dict(
        dimension=ibis.literal("veto"),
        criterion=ibis.literal(veto.name),
        metric=ibis.literal(veto.when),
        value=ibis.literal("true"),
        value_num=ibis.literal(1.0),
        percentile=ibis.null("float64"),
        points=units.cast("float64") / 10,
        max_points=ibis.literal(0.0),
        explanation_en=pts.concat(f": grade capped at {veto.max_grade}: {reason_en}"),
        explanation_zh=pts.concat(f"：等级最高为{veto.max_grade}：{reason_zh}"),
    )
