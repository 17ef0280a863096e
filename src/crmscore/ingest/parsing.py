"""Vectorised parsers: SQL expressions (DuckDB) that turn raw text into typed values.

Every parser is a function from a SQL expression over a ``VARCHAR`` column to a SQL expression of the logical
type, so that a whole column is parsed in one pass by DuckDB, never row by row in Python. An unparseable value
becomes ``NULL``; the validator turns "raw text present, parsed value NULL" into a rejection.

Understood forms:

- dates and timestamps: ISO (``2024-03-05``, ``2024-03-05 10:20:30``, ``2024-03-05T10:20:30+08:00``),
  ``2024/3/5``, ``2024.3.5``, ``2024年3月5日``, ``20240305``, ``3/5/2024`` (month first unless ``day_first``),
  ``05.03.2024`` (always day first), Excel serial dates (``45356``), Unix epoch seconds and milliseconds;
- amounts: ``1234.5``, ``¥1,234.50``, ``1.234,50 €``, ``(120.00)`` (negative), ``-5``, ``5-``, ``12.5万``,
  ``3亿``, currency symbols and codes (¥ ￥ $ € £ RMB CNY USD EUR GBP HKD JPY 元);
- booleans: yes/no, true/false, y/n, 1/0, 是/否, 有/无, √/×;
- enumerations (order status, customer type, interaction type, survey dimension) in English and Chinese.

The helpers :func:`parse_amounts`, :func:`parse_dates` and :func:`parse_values` run the same SQL on a list of
strings, for tests and for callers outside an import:

>>> parse_amounts(["¥1,234.50", "1.234,50 €", "(120.00)", "12.5万", "abc"])
[Decimal('1234.50'), Decimal('1234.50'), Decimal('-120.00'), Decimal('125000.00'), None]
>>> [d.date().isoformat() for d in parse_dates(["2024/3/5", "2024年3月5日", "3/5/2024", "45356"])]
['2024-03-05', '2024-03-05', '2024-03-05', '2024-03-05']
>>> parse_dates(["3/5/2024"], day_first=True)[0].date().isoformat()
'2024-05-03'
>>> parse_values("orders", "status", ["已完成", "Cancelled", "退货", "???"])
['completed', 'cancelled', 'returned', None]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from crmscore.schema import MONEY_PRECISION, MONEY_SCALE, TABLES, Column

__all__ = [
    "BOOLEAN_WORDS",
    "CURRENCY_SYMBOLS",
    "ENUM_SYNONYMS",
    "amount_sql",
    "boolean_sql",
    "clean_text_sql",
    "currency_sql",
    "date_formats",
    "enum_sql",
    "fast_sql",
    "fast_typed_sql",
    "id_sql",
    "integer_sql",
    "parse_amounts",
    "parse_dates",
    "parse_values",
    "plain_text_sql",
    "quote_ident",
    "sql_literal",
    "text_sql",
    "timestamp_sql",
    "typed_sql",
]

MONEY_TYPE = f"DECIMAL({MONEY_PRECISION}, {MONEY_SCALE})"
WIDE_DECIMAL = "DECIMAL(38, 6)"

# Canonical value -> words that mean it (compared lower-cased and trimmed).
ENUM_SYNONYMS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("orders", "status"): {
        "completed": ("completed", "complete", "done", "closed", "delivered", "shipped", "paid", "fulfilled",
                      "invoiced", "approved", "confirmed", "success", "successful", "normal", "ok", "won",
                      "已完成", "完成", "已发货", "已签收", "签收", "已付款", "已支付", "已成交", "成交", "正常",
                      "已确认", "确认", "已审核", "已交付", "交易成功", "已开票"),
        "cancelled": ("cancelled", "canceled", "cancel", "void", "voided", "annulled", "aborted", "rejected",
                      "已取消", "取消", "作废", "已作废", "撤销", "已撤销", "已关闭", "关闭", "交易关闭", "无效"),
        "returned": ("returned", "return", "refunded", "refund", "credit", "credit note", "rma",
                     "退货", "已退货", "退款", "已退款", "退单", "退回", "已退回", "红冲"),
    },
    ("customers", "type"): {
        "B2B": ("b2b", "business", "company", "corporate", "enterprise", "organisation", "organization",
                "account", "企业", "公司", "企业客户", "单位", "机构", "对公"),
        "B2C": ("b2c", "consumer", "individual", "person", "personal", "private", "retail",
                "个人", "个人客户", "消费者", "散客", "对私"),
    },
    ("interactions", "type"): {
        "visit": ("visit", "web visit", "page view", "pageview", "website visit", "访问", "浏览", "网站访问"),
        "email_sent": ("email_sent", "email", "e-mail", "mail", "email sent", "邮件", "发送邮件"),
        "email_open": ("email_open", "email opened", "open", "邮件打开", "打开邮件"),
        "email_click": ("email_click", "email clicked", "click", "邮件点击", "点击"),
        "call": ("call", "phone", "phone call", "telephone", "电话", "通话", "致电", "来电"),
        "meeting": ("meeting", "visit in person", "onsite", "拜访", "会议", "会面", "面谈", "上门"),
        "chat": ("chat", "im", "wechat", "live chat", "在线咨询", "微信", "聊天", "在线沟通"),
        "event": ("event", "webinar", "trade show", "exhibition", "活动", "展会", "研讨会"),
        "other": ("other", "others", "其他", "其它"),
    },
    ("surveys", "dimension"): {
        "product": ("product", "product quality", "quality", "产品", "产品质量", "质量"),
        "service": ("service", "服务", "服务质量"),
        "response": ("response", "responsiveness", "response speed", "响应", "响应速度", "及时性"),
        "after_sales": ("after_sales", "after sales", "after-sales", "aftersales", "support", "售后",
                        "售后服务"),
        "overall": ("overall", "total", "general", "总体", "整体", "综合", "总体满意度"),
    },
}

BOOLEAN_WORDS: dict[bool, tuple[str, ...]] = {
    True: ("true", "t", "yes", "y", "1", "1.0", "on", "x", "√", "✓", "是", "有", "对", "真", "已", "争议"),
    False: ("false", "f", "no", "n", "0", "0.0", "off", "×", "✗", "否", "无", "不", "不是", "假", "未", "没有"),
}

_BLANK_RE = "[\\s\\x{a0}\\x{3000}\\x{feff}]"


def quote_ident(name: str) -> str:
    """Quote a SQL identifier.

    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """Quote a SQL string literal.

    >>> sql_literal("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


# What the cleaning strips from either end of a value (RE2's \s is [\t\n\f\r ]).
_STRIPPED = ("\t", "\n", "\f", "\r", " ", "\u00a0", "\u3000", "\ufeff")


def _ends_stripped(expr: str) -> str:
    # ends_with() compares bytes at the end: far cheaper than taking the last character (expr[-1]).
    return "(" + " OR ".join(f"ends_with({expr}, {sql_literal(ch)})" for ch in _STRIPPED) + ")"


def plain_text_sql(expr: str) -> str:
    """A condition true only for values that :func:`clean_text_sql` returns unchanged (most values): not empty,
    the first character between 33 and 159 and the last one not stripped. NULL for NULL."""
    # Strings compare byte by byte: '!' <= value < U+00A0 holds exactly when the first character is in 33..159.
    return f"({expr} >= '!' AND {expr} < '\u00a0' AND NOT {_ends_stripped(expr)})"


def clean_text_sql(expr: str) -> str:
    """Trimmed text, with empty strings as NULL (values without blanks at either end pass untouched).

    >>> _run([" a ", "b", "", "\u3000华为\t", "华为", None], clean_text_sql("v"))
    ['a', 'b', None, '华为', '华为', None]
    """
    # Not `IN (...)`: DuckDB plans a list of constants as a join, evaluated for every row of a view even where
    # the column is not read. Characters up to 32 and the Unicode blanks go through the regular expression.
    # The first test passes most values with two cheap looks (the first character, the bytes at the end); the
    # second sends values with a blank at either end to the regular expression; the rest are returned as they are.
    first = f"ascii({expr})"
    blank_first = f"({first} <= 32 OR {first} = 160 OR {first} = 12288 OR {first} = 65279)"
    return (f"(CASE WHEN {plain_text_sql(expr)} THEN {expr} "
            f"WHEN {blank_first} OR {_ends_stripped(expr)} "
            f"THEN NULLIF(regexp_replace({expr}, '^{_BLANK_RE}+|{_BLANK_RE}+$', '', 'g'), '') ELSE {expr} END)")


def id_sql(expr: str) -> str:
    """An identifier: trimmed text; numbers written as floats (``17850.0``) lose the ``.0``."""
    return (f"(CASE WHEN {expr} LIKE '%.0' THEN regexp_replace({expr}, '^(-?[0-9]+)\\.0+$', '\\1') "
            f"ELSE {expr} END)")


def _number_text_sql(expr: str) -> str:
    """Text of a plain number ``[-]123.45`` (times ``mult``) from the many ways people write amounts."""
    # 1. drop currency symbols and codes, spaces, apostrophes used as thousands separators
    s0 = (f"regexp_replace({expr}, '(?i)(rmb|cny|usd|eur|gbp|hkd|jpy|人民币|元|圆|￥|¥|\\$|€|£|\\s|"
          f"\\x{{a0}}|\\x{{3000}}|''|’)', '', 'g')")
    return s0


def amount_sql(expr: str, target: str = MONEY_TYPE) -> str:
    """An amount (money or any decimal number) from text, cast to ``target`` (DECIMAL(18, 2) by default)."""
    s0 = _number_text_sql(expr)
    # sign: parentheses, leading or trailing minus
    neg = f"(regexp_matches({s0}, '^\\(.*\\)$') OR regexp_matches({s0}, '^-|-$'))"
    s1 = f"regexp_replace({s0}, '^[(+-]+|[)+-]+$', '', 'g')"
    mult = (f"(CASE WHEN {s1} LIKE '%万' THEN 10000 WHEN {s1} LIKE '%亿' THEN 100000000 "
            f"WHEN {s1} LIKE '%千' THEN 1000 ELSE 1 END)")
    s2 = f"rtrim({s1}, '万亿千')"
    plain = (
        f"(CASE WHEN regexp_full_match({s2}, '[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?') THEN replace({s2}, ',', '') "
        f"WHEN regexp_full_match({s2}, '[0-9]{{1,3}}(\\.[0-9]{{3}})+,[0-9]+') "
        f"THEN replace(replace({s2}, '.', ''), ',', '.') "
        f"WHEN regexp_full_match({s2}, '[0-9]{{1,3}}(\\.[0-9]{{3}}){{2,}}') THEN replace({s2}, '.', '') "
        f"WHEN regexp_full_match({s2}, '[0-9]*,[0-9]+') THEN replace({s2}, ',', '.') "
        f"WHEN regexp_full_match({s2}, '[0-9]+(\\.[0-9]*)?|\\.[0-9]+') THEN {s2} END)")
    slow = (f"TRY_CAST((CASE WHEN {neg} THEN -1 ELSE 1 END) * {mult} * TRY_CAST({plain} AS {WIDE_DECIMAL}) "
            f"AS {target})")
    # Fast path: most values are plain numbers already ('0x10' is not an amount).
    fast = f"TRY_CAST({expr} AS {target})"
    return f"(CASE WHEN {fast} IS NOT NULL AND NOT contains(lower({expr}), 'x') THEN {fast} ELSE {slow} END)"


def integer_sql(expr: str) -> str:
    """A whole number: ``12``, ``1,200``, ``12.0``; ``12.5`` is not an integer (NULL)."""
    fast = f"TRY_CAST({expr} AS BIGINT)"
    slow = (f"list_transform([{amount_sql(expr, WIDE_DECIMAL)}], v -> CASE WHEN v = trunc(v) AND abs(v) < 9e18 "
            f"THEN CAST(v AS BIGINT) END)[1]")
    return (f"(CASE WHEN {fast} IS NOT NULL AND NOT contains({expr}, '.') AND NOT contains(lower({expr}), 'x') "
            f"THEN {fast} ELSE {slow} END)")


def float_sql(expr: str) -> str:
    """A floating point number (scores, durations): plain, with separators, or with a % sign."""
    pct = f"regexp_replace({expr}, '%$', '')"
    fast = f"TRY_CAST({expr} AS DOUBLE)"
    return (f"(CASE WHEN {fast} IS NOT NULL AND isfinite({fast}) AND NOT contains(lower({expr}), 'x') "
            f"THEN {fast} ELSE CAST({amount_sql(pct, WIDE_DECIMAL)} AS DOUBLE) END)")


def date_formats(day_first: bool = False) -> list[str]:
    """The strptime formats tried after ISO, in order (ambiguous ``a/b/YYYY`` follows ``day_first``)."""
    ymd = ["%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d", "%Y-%m-%d"]
    dmy_dot = ["%d.%m.%Y"]
    ambiguous = ["%d/%m/%Y", "%d-%m-%Y"] if day_first else ["%m/%d/%Y", "%m-%d-%Y"]
    out: list[str] = []
    for base in ymd + ambiguous + dmy_dot:
        out.append(base)
        for sep in (" ", "") if base.endswith("日") else (" ",):
            out += [f"{base}{sep}%H:%M:%S", f"{base}{sep}%H:%M", f"{base}{sep}%H:%M:%S.%f",
                    f"{base}{sep}%I:%M:%S %p", f"{base}{sep}%I:%M %p"]
    out += ["%Y年%m月%d日 %H时%M分%S秒", "%Y年%m月%d日 %H时%M分", "%Y年%m月%d日%H时%M分", "%Y年%m月"]
    return out


def timestamp_sql(expr: str, day_first: bool = False) -> str:
    """A timestamp (no time zone; values with an offset are converted to UTC) from many date forms."""
    fmts = "[" + ", ".join(sql_literal(f) for f in date_formats(day_first)) + "]"
    tz = ("['%Y-%m-%dT%H:%M:%S%z', '%Y-%m-%d %H:%M:%S%z', '%Y-%m-%dT%H:%M:%S.%f%z', '%Y-%m-%d %H:%M:%S.%f%z', "
          "'%Y-%m-%dT%H:%M%z']")
    zexpr = f"regexp_replace({expr}, 'Z$', '+00:00')"
    iso = f"TRY_CAST({expr} AS TIMESTAMP)"
    return (
        f"(CASE WHEN length({expr}) <= 19 AND {iso} IS NOT NULL THEN {iso} "
        f"WHEN regexp_matches({expr}, '[0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)?([+-][0-9]{{2}}:?[0-9]{{2}}|Z)$') "
        f"THEN CAST(try_strptime({zexpr}, {tz}) AS TIMESTAMP) "
        f"WHEN regexp_full_match({expr}, '[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}([ T][0-9:.]+)?') "
        f"THEN TRY_CAST({expr} AS TIMESTAMP) "
        f"WHEN regexp_full_match({expr}, '[0-9]{{5}}(\\.[0-9]+)?') AND TRY_CAST({expr} AS DOUBLE) >= 10000 "
        f"THEN TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(TRY_CAST({expr} AS DOUBLE) * 86400000000) "
        f"AS BIGINT)) "
        f"WHEN regexp_full_match({expr}, '1[0-9]{{9}}') "
        f"THEN CAST(to_timestamp(TRY_CAST({expr} AS BIGINT)) AS TIMESTAMP) "
        f"WHEN regexp_full_match({expr}, '1[0-9]{{12}}') "
        f"THEN CAST(epoch_ms(TRY_CAST({expr} AS BIGINT)) AS TIMESTAMP) "
        f"ELSE try_strptime({expr}, {fmts}) END)")


def boolean_sql(expr: str) -> str:
    """A boolean from yes/no words in English and Chinese."""
    yes = ", ".join(sql_literal(w) for w in BOOLEAN_WORDS[True])
    no = ", ".join(sql_literal(w) for w in BOOLEAN_WORDS[False])
    return f"(CASE WHEN lower({expr}) IN ({yes}) THEN true WHEN lower({expr}) IN ({no}) THEN false END)"


def enum_sql(expr: str, table: str, column: str, choices: Sequence[str] = ()) -> str:
    """A canonical enumeration value from its English or Chinese synonyms (NULL when unknown)."""
    synonyms = ENUM_SYNONYMS.get((table, column), {c: (c.lower(),) for c in choices})
    cases = " ".join(
        f"WHEN lower({expr}) IN ({', '.join(sql_literal(w.lower()) for w in {value, *words})}) "
        f"THEN {sql_literal(value)}"
        for value, words in synonyms.items())
    return f"(CASE {cases} END)"


def typed_sql(expr: str, table: str, column: Column, day_first: bool = False) -> str:
    """The parser for one canonical column, applied to already-cleaned text ``expr``."""
    if column.type == "string":
        if column.choices or (table, column.name) in ENUM_SYNONYMS:
            return enum_sql(expr, table, column.name, column.choices)
        return expr
    if column.type == "decimal":
        return amount_sql(expr)
    if column.type == "integer":
        return integer_sql(expr)
    if column.type == "float":
        return float_sql(expr)
    if column.type == "timestamp":
        return timestamp_sql(expr, day_first)
    if column.type == "date":
        return f"CAST({timestamp_sql(expr, day_first)} AS DATE)"
    if column.type == "boolean":
        return boolean_sql(expr)
    raise ValueError(f"unknown logical type {column.type}")  # pragma: no cover - schema is closed


def text_sql(raw: str, identifier: bool = False) -> str:
    """``clean_text_sql`` (and ``id_sql`` for identifiers) of a raw text column, without nesting the cleaning
    into every reference: values that need no cleaning (the usual case) pass with two cheap tests."""
    if not identifier:
        return clean_text_sql(raw)
    return (f"(CASE WHEN {plain_text_sql(raw)} AND NOT ends_with({raw}, '.0') THEN {raw} "
            f"WHEN {raw} LIKE '%.0' THEN {id_sql(clean_text_sql(raw))} ELSE {clean_text_sql(raw)} END)")


def fast_sql(raw: str, table: str, column: Column) -> str | None:
    """The value of raw text already in the target type's plain form (ISO date, ``1234.50``, a canonical
    enumeration value) with one cast, NULL for anything else; None when the type has no fast form.

    It never disagrees with :func:`typed_sql` where it is not NULL. The expression is small, unlike the
    multi-format parsers, so DuckDB plans and runs it cheaply over a view.
    """
    if column.type == "string":
        if column.choices or (table, column.name) in ENUM_SYNONYMS:
            values = " OR ".join(f"{raw} = {sql_literal(c)}" for c in _canonical(table, column))
            return f"(CASE WHEN {values} THEN {raw} END)"
        return None
    no_hex = f"NOT contains({raw}, 'x') AND NOT contains({raw}, 'X')"
    if column.type == "decimal":
        # No hex guard: unlike the integer casts, DuckDB's decimal cast never reads '0x10' (a test checks).
        return f"TRY_CAST({raw} AS {MONEY_TYPE})"
    if column.type == "integer":
        return f"(CASE WHEN {no_hex} AND NOT contains({raw}, '.') THEN TRY_CAST({raw} AS BIGINT) END)"
    if column.type == "float":
        return f"(CASE WHEN {no_hex} AND isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END)"
    if column.type in ("timestamp", "date"):
        # ISO without an offset or zone (TRY_CAST would ignore one): ends in a digit, no '+', no '-' after the date.
        # (ends_with() of each digit is cheaper than taking the last character.)
        digit_end = " OR ".join(f"ends_with({raw}, '{d}')" for d in range(10))
        ts = (f"(CASE WHEN ({digit_end}) AND NOT contains({raw}, '+') "
              f"AND NOT contains(substr({raw}, 11), '-') THEN TRY_CAST({raw} AS TIMESTAMP) END)")
        return ts if column.type == "timestamp" else f"CAST({ts} AS DATE)"
    if column.type == "boolean":
        return boolean_sql(raw)
    return None  # pragma: no cover - schema is closed


def _canonical(table: str, column: Column) -> list[str]:
    return list(ENUM_SYNONYMS.get((table, column.name), {}).keys()) or list(column.choices)


def fast_typed_sql(raw: str, table: str, column: Column, day_first: bool = False, cleaned: str | None = None) -> str:
    """:func:`typed_sql` of the cleaned text, trying :func:`fast_sql` first.

    ``raw`` is the text as read (``cleaned`` its cleaned form, default ``clean_text_sql(raw)``): a value in plain
    form is cast once; only the others go through the multi-format parsers.

    >>> from crmscore.schema import TABLES
    >>> parse = lambda col, vals: _run(vals, fast_typed_sql("v", "orders", TABLES["orders"].column(col)))
    >>> parse("amount", ["12.5", " ¥1,234.50 ", "0x10", None])
    [Decimal('12.50'), Decimal('1234.50'), None, None]
    >>> [v.isoformat() if v else v for v in parse("order_date", ["2024-03-05 10:20:30.000",
    ...                                                          "2024-03-05T10:20:30+08:00", "2024年3月5日"])]
    ['2024-03-05T10:20:30', '2024-03-05T02:20:30', '2024-03-05T00:00:00']
    """
    cleaned = cleaned or clean_text_sql(raw)
    slow = typed_sql(cleaned, table, column, day_first)
    fast = fast_sql(raw, table, column)
    return slow if fast is None else f"coalesce({fast}, {slow})"


CURRENCY_SYMBOLS: dict[str, tuple[str, ...]] = {
    "CNY": ("¥", "￥", "元", "RMB", "CNY", "人民币"),
    "HKD": ("HK$", "HKD"),
    "USD": ("US$", "$", "USD"),
    "EUR": ("€", "EUR"),
    "GBP": ("£", "GBP"),
    "JPY": ("JPY", "円"),
}


def currency_sql(raw: str) -> str:
    """The ISO currency code written in an amount (``¥12`` -> CNY, ``$5`` -> USD, ``1,50 €`` -> EUR), else NULL.

    >>> _run(["¥1,234.50", "HK$ 80", "$5", "1.234,50 €", "12"], currency_sql("v"))
    ['CNY', 'HKD', 'USD', 'EUR', None]
    """
    cases = " ".join(f"WHEN {' OR '.join(f'contains(upper({raw}), {sql_literal(s)})' for s in symbols)} "
                     f"THEN {sql_literal(code)}" for code, symbols in CURRENCY_SYMBOLS.items())
    return f"(CASE {cases} END)"


def _run(values: Sequence[str | None], sql: str) -> list[Any]:
    con = duckdb.connect()
    try:
        con.register("_v", pa.table({"v": pa.array(list(values), pa.string())}))
        rows = con.execute(f"SELECT {sql} FROM (SELECT row_number() OVER () AS i, v FROM _v) ORDER BY i").fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def parse_amounts(values: Sequence[str | None]) -> list[Decimal | None]:
    """Parse amounts with the importer's SQL (see the module docstring)."""
    return _run(values, amount_sql(clean_text_sql("v")))


def parse_dates(values: Sequence[str | None], day_first: bool = False) -> list[datetime | None]:
    """Parse dates and timestamps with the importer's SQL (see the module docstring)."""
    return _run(values, timestamp_sql(clean_text_sql("v"), day_first))


def parse_values(table: str, column: str, values: Sequence[str | None], day_first: bool = False) -> list[Any]:
    """Parse values of one canonical column (``orders.status``, ``customers.employees`` ...)."""
    col = TABLES[table].column(column)
    return _run(values, typed_sql(clean_text_sql("v"), table, col, day_first))
