"""Safe arithmetic expressions over metrics: parsed with :mod:`ast`, checked against a whitelist, never eval'd.

Grammar (a subset of Python expressions): numbers, strings, ``True``/``False``, metric names, ``+ - * / %``,
unary ``-``/``+``/``not``, comparisons (``< <= > >= == !=``, chains allowed), ``and``/``or``,
``a if cond else b`` and the functions in :data:`FUNCTIONS`. Division by zero gives a missing value;
``min``/``max`` skip missing arguments (like SQL LEAST/GREATEST: ``max(order_count, 1)`` is 1 without orders);
every other operation on a missing value gives a missing value (use ``coalesce(x, 0)``).

>>> expr = parse("monetary_365d / max(order_count, 1)")
>>> sorted(expr.names)
['monetary_365d', 'order_count']
>>> [str(i) for i in check("monetory_365d / 0 +", ["monetary_365d"])]
["invalid syntax: invalid syntax; write a Python-like arithmetic expression such as 'monetary_365d / max(order_count, 1)'"]
>>> [str(i) for i in check("monetory_365d * 2", ["monetary_365d"])]
["unknown metric 'monetory_365d' in expression; did you mean 'monetary_365d'?"]
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from crmscore.errors import ConfigIssue, suggest

__all__ = ["FUNCTIONS", "Expression", "ExpressionSyntaxError", "check", "compile_expression", "parse"]

# name -> (min args, max args or None for any, builder over Ibis values)
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    "min": (2, None, lambda *a: ibis.least(*a)),
    "max": (2, None, lambda *a: ibis.greatest(*a)),
    "abs": (1, 1, lambda a: a.abs()),
    "log": (1, 1, lambda a: ibis.ifelse(a > 0, a.ln(), ibis.null())),
    "log10": (1, 1, lambda a: ibis.ifelse(a > 0, a.log10(), ibis.null())),
    "sqrt": (1, 1, lambda a: ibis.ifelse(a >= 0, a.sqrt(), ibis.null())),
    "round": (1, 2, lambda a, d=None: a.round(0 if d is None else d)),
    "coalesce": (2, None, lambda *a: ibis.coalesce(*a)),
    "clip": (3, 3, lambda a, lo, hi: ibis.ifelse(a.isnull(), ibis.null("float64"),
                                                 ibis.least(ibis.greatest(a, lo), hi).cast("float64"))),
    "is_missing": (1, 1, lambda a: a.isnull()),
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_EXAMPLE = "write a Python-like arithmetic expression such as 'monetary_365d / max(order_count, 1)'"


class ExpressionSyntaxError(ValueError):
    """Raised by :func:`parse` for text outside the grammar; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class Expression:
    """A parsed, whitelisted expression: its text, its AST and the metric names it reads."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()
    is_boolean: bool = False


def _walk(node: ast.AST, issues: list[ConfigIssue], names: set[str]) -> None:
    def bad(message: str, suggestion: str | None = None) -> None:
        issues.append(ConfigIssue("", f"{message} at column {getattr(node, 'col_offset', 0) + 1}", suggestion))

    if isinstance(node, ast.Expression):
        _walk(node.body, issues, names)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float | str | bool):
            bad(f"unsupported constant {node.value!r}")
    elif isinstance(node, ast.Name):
        if node.id in ("True", "False"):
            return
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS and not isinstance(node.op, ast.Div):
            bad(f"operator {type(node.op).__name__} is not allowed", "use + - * / %")
        _walk(node.left, issues, names)
        _walk(node.right, issues, names)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
            bad(f"operator {type(node.op).__name__} is not allowed")
        _walk(node.operand, issues, names)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _walk(value, issues, names)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                bad(f"comparison {type(op).__name__} is not allowed", "use < <= > >= == !=")
        _walk(node.left, issues, names)
        for comp in node.comparators:
            _walk(comp, issues, names)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _walk(part, issues, names)
    elif isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func is None or func not in FUNCTIONS:
            close = suggest(func or "", FUNCTIONS)
            bad(f"unknown function {func or ast.unparse(node.func)!r}",
                f"did you mean {close!r}?" if close else "known: " + ", ".join(sorted(FUNCTIONS)))
        else:
            lo, hi = FUNCTIONS[func][:2]
            n = len(node.args)
            if node.keywords or n < lo or (hi is not None and n > hi):
                want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
                bad(f"{func}() takes {want} positional argument(s), got {n}"
                    + (" and keywords" if node.keywords else ""))
        for arg in node.args:
            _walk(arg, issues, names)
    else:
        bad(f"{type(node).__name__} is not allowed in an expression", _EXAMPLE)


def _is_boolean(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare | ast.BoolOp):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id == "is_missing"
    return False


def parse(text: str) -> Expression:
    """Parse and whitelist ``text``; raises :class:`ExpressionSyntaxError` listing every problem.

    >>> parse("max_days_late > 90").is_boolean
    True
    >>> try:
    ...     parse("__import__('os')")
    ... except ExpressionSyntaxError as exc:
    ...     print(exc)
    unknown function '__import__' at column 1; known: abs, clip, coalesce, is_missing, log, log10, max, min, round, sqrt
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionSyntaxError([ConfigIssue("", "empty expression", _EXAMPLE)])
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionSyntaxError([ConfigIssue("", f"invalid syntax{where}: {exc.msg}", _EXAMPLE)]) from None
    issues: list[ConfigIssue] = []
    names: set[str] = set()
    _walk(tree, issues, names)
    if issues:
        raise ExpressionSyntaxError(issues)
    return Expression(text.strip(), tree, frozenset(names), _is_boolean(tree.body))


def check(text: str, known: Iterable[str], *, boolean: bool | None = None) -> list[ConfigIssue]:
    """Every problem of an expression: syntax, forbidden constructs, unknown metrics (with suggestions), and
    (when ``boolean`` is given) whether it yields a condition or a number. Paths are left empty."""
    try:
        expr = parse(text)
    except ExpressionSyntaxError as exc:
        return exc.issues
    known = list(known)
    issues = []
    for name in sorted(expr.names - set(known)):
        close = suggest(name, known)
        issues.append(ConfigIssue("", f"unknown metric {name!r} in expression",
                                  f"did you mean {close!r}?" if close else None))
    if boolean is True and not expr.is_boolean:
        issues.append(ConfigIssue("", "a condition is needed here", "compare a metric, e.g. 'max_days_late > 90'"))
    if boolean is False and expr.is_boolean:
        issues.append(ConfigIssue("", "a number is needed here, not a condition",
                                  "use 'x if condition else y' to turn a condition into a number"))
    return issues


def _lit(value: Any) -> ir.Value:
    return ibis.literal(value)


def compile_expression(expr: Expression | str, columns: Mapping[str, ir.Value]) -> ir.Value:
    """Build the Ibis value of an expression; ``columns`` maps metric names to Ibis columns.

    >>> t = ibis.memtable({"a": [1.0, 4.0], "b": [0.0, 2.0]})
    >>> e = compile_expression("a / b + max(a, 3)", {"a": t.a, "b": t.b})
    >>> t.select(v=e).v.to_list()
    [None, 6.0]
    """
    parsed = parse(expr) if isinstance(expr, str) else expr

    def build(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant):
            return _lit(node.value)
        if isinstance(node, ast.Name):
            if node.id in ("True", "False"):
                return _lit(node.id == "True")
            return columns[node.id]
        if isinstance(node, ast.BinOp):
            left, right = build(node.left), build(node.right)
            if isinstance(node.op, ast.Div):
                return left.cast("float64") / right.cast("float64").nullif(0)
            if isinstance(node.op, ast.Mod):
                return left % right.nullif(0)
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = build(node.operand)
            if isinstance(node.op, ast.Not):
                return ~operand
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BoolOp):
            values = [build(v) for v in node.values]
            out = values[0]
            for v in values[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node, ast.Compare):
            parts = []
            left = build(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = build(comp)
                parts.append(_COMPARE[type(op)](left, right))
                left = right
            out = parts[0]
            for p in parts[1:]:
                out = out & p
            return out
        if isinstance(node, ast.IfExp):
            return ibis.ifelse(build(node.test), build(node.body), build(node.orelse))
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return FUNCTIONS[node.func.id][2](*[build(a) for a in node.args])
        raise AssertionError(f"unreachable: {type(node).__name__}")  # parse() whitelisted the tree

    return build(parsed.tree)
