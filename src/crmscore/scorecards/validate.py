"""Whole-document validation of a scorecard: every problem at once, each with its path and a suggestion.

Pydantic's structural errors are translated into the same path format
(``dimensions[2].criteria[0].metric``) and merged with the semantic checks (unknown metrics with
did-you-mean, weights not positive, unsorted or overlapping bins, grade bands not covering 0-100, unknown
method, bad expression syntax, unknown metric inside an expression ...). Semantic checks run on the raw
document, so that a structural error in one place does not hide a semantic one elsewhere.

>>> doc = '''
... name: mini
... dimensions:
...   - name: value
...     weight: -1
...     criteria:
...       - {name: revenue, metric: monetory_365d, method: {type: percentile}}
... '''
>>> try:
...     load_scorecard(doc, source="mini.yaml")
... except ConfigError as exc:
...     print(exc.message)
mini.yaml: 2 problems
  - dimensions[0].weight: weight must be positive, got -1
  - dimensions[0].criteria[0].metric: unknown metric 'monetory_365d'; did you mean 'monetary_365d'?
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from crmscore.errors import ConfigError, ConfigIssue, suggest
from crmscore.scorecards import expressions
from crmscore.scorecards.catalog import Catalog, is_categorical, resolve_catalog
from crmscore.scorecards.methods import METHODS, Method
from crmscore.scorecards.spec import Criterion, Decay, Dimension, GradeBand, Scorecard, Veto

__all__ = ["format_path", "load_scorecard", "read_scorecard", "validate_scorecard"]

_CHILD_MODELS: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (Scorecard, "dimensions"): Dimension, (Scorecard, "grades"): GradeBand, (Scorecard, "vetoes"): Veto,
    (Dimension, "criteria"): Criterion, (Criterion, "decay"): Decay,
}


def format_path(loc: Iterable[Any]) -> str:
    """``('dimensions', 2, 'criteria', 0, 'metric')`` -> ``'dimensions[2].criteria[0].metric'``.

    >>> format_path(["dimensions", 2, "criteria", 0, "metric"])
    'dimensions[2].criteria[0].metric'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[Any, ...], raw: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (for field-name suggestions)."""
    model: type[BaseModel] | None = Scorecard
    node = raw
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        node = node.get(part) if isinstance(node, dict) else None
        if model is Criterion and part == "method":
            kind = node.get("type") if isinstance(node, dict) else None
            model = METHODS.get(kind) if isinstance(kind, str) else None
        else:
            model = _CHILD_MODELS.get((model, part))
    return model


_BOUNDS = {"less_than_equal": "<=", "less_than": "<", "greater_than_equal": ">=", "greater_than": ">"}
_MESSAGES = {"float_parsing": "must be a number", "float_type": "must be a number", "int_parsing": "must be a whole number",
             "string_type": "must be text", "bool_parsing": "must be true or false", "bool_type": "must be true or false",
             "list_type": "must be a list", "dict_type": "must be a mapping", "model_type": "must be a mapping",
             "too_short": "must not be empty"}


def _bound_key(kind: str) -> str:
    return {"less_than_equal": "le", "less_than": "lt", "greater_than_equal": "ge", "greater_than": "gt"}[kind]


def _pydantic_issues(exc: ValidationError, raw: Any) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        # drop pydantic's union tags (e.g. 'function-after[...]'), but never down to nothing: a key may contain '['
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p)) or tuple(err["loc"])
        kind, msg = err["type"], err["msg"]
        suggestion = None
        if kind == "missing":
            msg = "required field missing"
        elif kind == "extra_forbidden":
            parent = _model_at(loc[:-1], raw)
            known = list(parent.model_fields) if parent else []
            close = suggest(str(loc[-1]), known)
            msg = f"unknown field {loc[-1]!r}"
            suggestion = f"did you mean {close!r}?" if close else (
                "known fields: " + ", ".join(known) if known else None)
        elif kind == "unknown_method":
            suggestion = (err.get("ctx") or {}).get("suggestion")
            loc = (*loc, "type")
        elif kind == "string_pattern_mismatch":
            msg = "must be lower case letters, digits and underscores (hyphens in a scorecard name), " \
                  "starting with a letter"
        elif kind in _BOUNDS:
            msg = f"must be {_BOUNDS[kind]} {err.get('ctx', {}).get(_bound_key(kind))}"
        elif kind in _MESSAGES:
            msg = _MESSAGES[kind]
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        issues.append(ConfigIssue(format_path(loc), msg, suggestion))
    return issues


def _unknown_metric(path: str, name: Any, catalog: Catalog) -> ConfigIssue | None:
    if not isinstance(name, str) or name in catalog:
        return None
    close = suggest(name, catalog)
    return ConfigIssue(path, f"unknown metric {name!r}", f"did you mean {close!r}?" if close else
                       "see the metric catalog in docs/metrics.md")


def _positive(path: str, value: Any) -> ConfigIssue | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
        return ConfigIssue(path, f"weight must be positive, got {value:g}")
    return None


def _duplicates(path: str, items: list[Any], key: str, what: str) -> list[ConfigIssue]:
    seen: dict[Any, int] = {}
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get(key), str | int | float):
            continue
        value = item[key]
        if value in seen:
            out.append(ConfigIssue(f"{path}[{i}].{key}", f"duplicate {what} {value!r} (also {path}[{seen[value]}])",
                                   f"use a different {key}"))
        else:
            seen[value] = i
    return out


def _expression_issues(path: str, text: Any, catalog: Catalog, *, boolean: bool | None) -> list[ConfigIssue]:
    if not isinstance(text, str):
        return []
    return [ConfigIssue(path, i.message, i.suggestion)
            for i in expressions.check(text, catalog, boolean=boolean)]


def _criterion_issues(path: str, crit: dict[str, Any], catalog: Catalog) -> list[ConfigIssue]:
    out: list[ConfigIssue | None] = [_positive(f"{path}.weight", crit.get("weight"))]
    metric_name = crit.get("metric")
    out.append(_unknown_metric(f"{path}.metric", metric_name, catalog))
    method: Method | None = None
    try:
        method = METHODS[crit["method"]["type"]].model_validate(crit["method"])
    except (KeyError, TypeError, ValidationError):
        method = None  # structural problems are reported by pydantic
    wants_number = None if method is None or method.needs == "any" else False
    out.extend(_expression_issues(f"{path}.expression", crit.get("expression"), catalog, boolean=wants_number))
    if method is not None:
        out.extend(ConfigIssue(f"{path}.method.{sub}" if sub else f"{path}.method", msg, hint)
                   for sub, msg, hint in method.issues())
        metric = catalog.get(metric_name) if isinstance(metric_name, str) else None
        if metric is not None:
            categorical = is_categorical(metric)
            if categorical and method.needs == "number":
                out.append(ConfigIssue(f"{path}.method.type",
                                       f"metric {metric_name!r} holds categories, method {method.type!r} needs "
                                       "numbers", "use method 'category'"))
            elif not categorical and method.needs == "category":
                out.append(ConfigIssue(f"{path}.method.type",
                                       f"metric {metric_name!r} holds numbers, method 'category' needs labels",
                                       "use method 'bins' for ranges of numbers"))
            elif (method.uses_direction and crit.get("direction") is None
                  and getattr(metric, "direction", "higher") not in ("higher", "lower")):
                out.append(ConfigIssue(f"{path}.direction", f"metric {metric_name!r} has no natural direction",
                                       "set direction: higher or direction: lower"))
        if crit.get("expression") is not None and method.needs == "category":
            out.append(ConfigIssue(f"{path}.method.type", "an expression yields a number, method 'category' "
                                   "needs labels", "use 'bins', 'linear' or 'percentile'"))
    decay = crit.get("decay")
    if isinstance(decay, dict):
        out.append(_unknown_metric(f"{path}.decay.metric", decay.get("metric", "recency_days"), catalog))
    return [i for i in out if i is not None]


def _grade_issues(doc: dict[str, Any]) -> list[ConfigIssue]:
    grades = doc.get("grades")
    if not isinstance(grades, list) or not grades:
        return []
    out = _duplicates("grades", grades, "grade", "grade")
    out += _duplicates("grades", grades, "min", "grade band minimum")
    mins = [g.get("min") for g in grades if isinstance(g, dict)]
    numbers = [m for m in mins if isinstance(m, int | float) and not isinstance(m, bool)]
    if numbers and len(numbers) == len(mins) and min(numbers) != 0:
        worst = mins.index(min(numbers))
        out.append(ConfigIssue(f"grades[{worst}].min",
                               f"grade bands do not cover 0-100: the lowest band starts at {min(numbers):g}",
                               "let the lowest band start at min: 0"))
    return out


def _veto_issues(doc: dict[str, Any], catalog: Catalog) -> list[ConfigIssue]:
    vetoes = doc.get("vetoes")
    if not isinstance(vetoes, list):
        return []
    grades = doc.get("grades")
    names = ([g.get("grade") for g in grades if isinstance(g, dict)] if isinstance(grades, list)
             else [g.grade for g in Scorecard.model_fields["grades"].get_default(call_default_factory=True)])
    out = _duplicates("vetoes", vetoes, "name", "veto")
    for i, veto in enumerate(vetoes):
        if not isinstance(veto, dict):
            continue
        out += _expression_issues(f"vetoes[{i}].when", veto.get("when"), catalog, boolean=True)
        cap = veto.get("max_grade")
        if isinstance(cap, str) and cap not in names:
            close = suggest(cap, [str(n) for n in names])
            out.append(ConfigIssue(f"vetoes[{i}].max_grade", f"unknown grade {cap!r}",
                                   f"did you mean {close!r}?" if close else "grades: " + ", ".join(map(str, names))))
    return out


def _semantic_issues(doc: dict[str, Any], catalog: Catalog) -> list[ConfigIssue]:
    out: list[ConfigIssue] = []
    dims = doc.get("dimensions")
    if isinstance(dims, list):
        out += _duplicates("dimensions", dims, "name", "dimension")
        for d, dim in enumerate(dims):
            if not isinstance(dim, dict):
                continue
            issue = _positive(f"dimensions[{d}].weight", dim.get("weight"))
            if issue:
                out.append(issue)
            crits = dim.get("criteria")
            if isinstance(crits, list):
                out += _duplicates(f"dimensions[{d}].criteria", crits, "name", "criterion")
                for c, crit in enumerate(crits):
                    if isinstance(crit, dict):
                        out += _criterion_issues(f"dimensions[{d}].criteria[{c}]", crit, catalog)
    out += _grade_issues(doc)
    out += _veto_issues(doc, catalog)
    applies = doc.get("applies_to")
    if isinstance(applies, dict):
        for key, values in applies.items():
            issue = _unknown_metric(f"applies_to.{key}", key, catalog)
            if issue:
                out.append(issue)
            if values in (None, [], ""):
                out.append(ConfigIssue(f"applies_to.{key}", "no values given", "list the values that apply"))
    return out


def _field_order() -> dict[str, int]:
    order: dict[str, int] = {}
    models: list[type[BaseModel]] = [Scorecard, Dimension, Criterion, Decay, GradeBand, Veto, *METHODS.values()]
    for model in models:
        for name in model.model_fields:
            order.setdefault(name, len(order))
    return order


def _sort_key(issue: ConfigIssue) -> tuple[Any, ...]:
    # document order: indices by number, field names in their declaration order
    order = _field_order()
    parts: list[Any] = []
    for token in issue.path.replace("]", "").replace("[", ".").split("."):
        parts.append((int(token), "") if token.isdecimal() else (order.get(token, len(order)), token))
    return tuple(parts)


def validate_scorecard(document: Any, *, source: str = "scorecard", catalog: Catalog | None = None) -> Scorecard:
    """Validate a parsed document (a mapping) into a :class:`Scorecard`, or raise :class:`ConfigError`
    listing every problem (structural and semantic), sorted by path."""
    catalog = resolve_catalog(catalog)
    if not isinstance(document, dict):
        raise ConfigError(source, [ConfigIssue("", f"a scorecard must be a mapping, got {type(document).__name__}",
                                               "start the file with 'name: my-scorecard'")])
    issues: list[ConfigIssue] = []
    card: Scorecard | None = None
    try:
        card = Scorecard.model_validate(document)
    except ValidationError as exc:
        issues += _pydantic_issues(exc, document)
    issues += _semantic_issues(document, catalog)
    if issues:
        unique = list(dict.fromkeys(issues))
        raise ConfigError(source, sorted(unique, key=_sort_key))
    assert card is not None
    return card


def load_scorecard(text: str, *, source: str = "scorecard", catalog: Catalog | None = None) -> Scorecard:
    """Parse YAML text and validate it (see :func:`validate_scorecard`)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue("", f"not valid YAML{where}: {problem}",
                                               "check the indentation and quoting there")]) from exc
    return validate_scorecard(document, source=source, catalog=catalog)


def read_scorecard(path: str | Path, *, catalog: Catalog | None = None) -> Scorecard:
    """Read and validate a scorecard YAML file; a built-in template name (``b2b-default``) also works."""
    from crmscore.scorecards.templates import template_path

    file = Path(path)
    if not file.exists():
        builtin = template_path(str(path))
        if builtin is None:
            from crmscore.errors import InputFileError

            raise InputFileError(f"no scorecard file {str(path)!r}",
                                 "give a YAML file path or a built-in template name (b2b-default, b2c-retail)")
        file = builtin
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        from crmscore.errors import InputFileError

        raise InputFileError(f"cannot read {file}: {exc}", "save the scorecard as UTF-8 YAML") from exc
    return load_scorecard(text, source=str(path), catalog=catalog)
