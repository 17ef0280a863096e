"""Seeded synthetic CRM data: every canonical table, realistic structure, up to millions of customers.

The generator writes all tables of :data:`crmscore.schema.TABLES` with exactly the canonical column names and
types, so that the files import with automatic mapping. What it models:

- **Owners** (sales reps) in departments with '/' paths (``Sales/East/Shanghai`` is below ``Sales/East``), plus
  ``Key Accounts`` (large B2B accounts) and ``Inside Sales`` (many B2C accounts).
- **Customers**: B2B (industry, employees, size band, annual revenue, credit limit) and B2C (birthday), in
  regions, each with an owner; a few prospects never order.
- **Orders** follow the BG/NBD story so that CLV models have something to find: each customer buys at a
  Poisson rate ``lambda ~ Gamma`` (in a seasonal clock: Chinese New Year dip, 11.11 and December peaks, quiet
  weekends) and drops out after each purchase with probability ``p ~ Beta`` (lower for satisfied customers).
  Spend per order follows Gamma-Gamma (per-customer mean ``~ 1/Gamma``); orders are built from **order lines**
  over a product catalogue, so amounts have cents and ``amount = sum(quantity x unit_price)`` exactly, with
  costs. About 2% of orders are ``cancelled``; some completed orders get a **return**: a reversal document
  (``RT...``) with a negative amount and status ``returned``, as :mod:`crmscore.schema` defines.
- **Invoices** for B2B orders with 30/60-day terms: habitual late payers, disputes (paid late or in part), open
  invoices near the end and a few customers who stopped paying (open and overdue).
- **Surveys** on a 1-5 or 1-10 scale with ``product``, ``service``, ``response`` and ``after_sales`` rows and a
  0-10 ``would_recommend``; **tickets** (some complaints, more for unhappy customers); **opportunities** with
  ``urgency`` and ``fit`` 1-5; **interactions**: web visits with dwell time and pages, e-mail opens, calls,
  meetings.

Randomness comes from a seed (or a ``numpy.random.Generator`` passed in), never from global state. Customers are
generated in fixed blocks of :data:`BLOCK_CUSTOMERS`, each from its own child seed, so memory stays bounded and
the output depends only on ``(customers, seed, end, years)``.

>>> tables = generate(300, seed=7)
>>> sorted(tables) == sorted(TABLES)
True
>>> tables["customers"].num_rows
300
>>> tables["orders"].column_names == TABLES["orders"].column_names
True
>>> generate(300, seed=7)["orders"].equals(tables["orders"])
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from crmscore.errors import CrmscoreError, UnknownName
from crmscore.schema import MONEY_PRECISION, MONEY_SCALE, TABLES, TableSpec

__all__ = [
    "BLOCK_CUSTOMERS",
    "DEFAULT_END",
    "FORMATS",
    "TABLE_ORDER",
    "SynthSummary",
    "arrow_schema",
    "generate",
    "iter_blocks",
    "write",
]

BLOCK_CUSTOMERS = 50_000
DEFAULT_END = date(2024, 12, 31)
TABLE_ORDER = ("owners", "products", "customers", "orders", "order_lines", "invoices", "interactions", "surveys",
               "tickets", "opportunities")
FORMATS = ("csv", "parquet")

_DAY = 86_400
_EPOCH = date(1970, 1, 1)
_MONEY = pa.decimal128(MONEY_PRECISION, MONEY_SCALE)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "integer": pa.int64(), "float": pa.float64(), "decimal": _MONEY,
    "date": pa.date32(), "timestamp": pa.timestamp("s"), "boolean": pa.bool_(),
}

# --- vocabularies -------------------------------------------------------------------------------------------
_REGIONS = ("East", "North", "South", "West", "Central")
_REGION_P = (0.34, 0.22, 0.24, 0.10, 0.10)
_REGION_CITIES = (("上海", "杭州", "南京", "苏州"), ("北京", "天津", "济南"), ("广州", "深圳", "厦门"),
                  ("成都", "重庆", "西安"), ("武汉", "长沙", "郑州"))
# Department paths: regional ones first (index = region), then the two cross-regional ones.
_REGION_DEPTS = (("Sales/East", "Sales/East/Shanghai", "Sales/East/Hangzhou"),
                 ("Sales/North", "Sales/North/Beijing"),
                 ("Sales/South/Guangzhou", "Sales/South/Shenzhen"),
                 ("Sales/West/Chengdu",),
                 ("Sales/Central/Wuhan",))
_KEY_ACCOUNTS, _INSIDE_SALES = "Key Accounts", "Inside Sales"
_DEPARTMENTS = (*(d for ds in _REGION_DEPTS for d in ds), _KEY_ACCOUNTS, _INSIDE_SALES)
_DEPT_WEIGHT = np.array([3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4], dtype=float)
_INDUSTRIES = ("Manufacturing", "Retail", "Wholesale", "IT & Software", "Finance", "Healthcare", "Education",
               "Logistics", "Construction", "Energy", "Hospitality")
_INDUSTRY_P = (0.22, 0.12, 0.12, 0.12, 0.06, 0.08, 0.05, 0.09, 0.07, 0.03, 0.04)
_INDUSTRY_WORD = ("制造", "商贸", "贸易", "科技", "投资", "医疗", "教育", "物流", "建设", "能源", "酒店管理")
_BRANDS = ("华丰", "宏达", "金泰", "恒信", "博远", "鼎盛", "星辰", "瑞祥", "天成", "远航", "中科", "新源", "汇通",
           "凯越", "盛世", "润泽", "嘉禾", "云启", "鑫隆", "万象", "东方", "长虹", "正泰", "安达")
_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
             "高", "林", "罗", "郑", "梁", "谢", "宋")
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
          "秀英", "霞", "平", "刚", "桂英", "华", "建国", "晓东", "海燕", "子涵", "一鸣", "欣怡", "浩然")
_SIZE_BANDS = ("micro", "small", "medium", "large", "enterprise")
_SIZE_EDGES = (10, 50, 250, 1000)
_COUNTRIES = ("CN", "HK", "SG")
_COUNTRY_P = (0.96, 0.025, 0.015)
_CATEGORIES = ("Hardware", "Software", "Services", "Consumables", "Accessories", "Training")
_CHANNELS_B2B = ("sales_rep", "online", "partner")
_CHANNELS_B2C = ("online", "mobile_app", "store")
_ITYPES = ("visit", "email_open", "email_click", "call", "meeting", "chat", "event")
_ITYPE_P_B2B = (0.35, 0.25, 0.05, 0.18, 0.10, 0.02, 0.05)
_ITYPE_P_B2C = (0.58, 0.28, 0.08, 0.02, 0.0, 0.04, 0.0)
_ICHANNEL = ("web", "email", "email", "phone", "onsite", "web", "event")
_TICKET_CATEGORIES = ("delivery", "quality", "billing", "technical", "account", "other")
_TICKET_CAT_P = (0.22, 0.20, 0.14, 0.26, 0.10, 0.08)
_SEVERITIES = ("low", "medium", "high", "critical")
_SEVERITY_P = (0.5, 0.3, 0.15, 0.05)
_SURVEY_DIMS = ("product", "service", "response", "after_sales")
_OPEN_STAGES = ("qualification", "needs_analysis", "proposal", "negotiation")
_CURRENCY = "CNY"


@dataclass
class SynthSummary:
    """What :func:`write` produced: rows per table, files, parameters and the time taken."""

    customers: int
    seed: int | None
    format: str
    start: date
    end: date
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"customers": self.customers, "seed": self.seed, "format": self.format,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "rows": dict(self.rows),
                "files": dict(self.files), "seconds": round(self.seconds, 3)}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a canonical table (money as ``decimal128(18, 2)``, timestamps in seconds).

    >>> arrow_schema(TABLES["owners"]).names
    ['owner_id', 'name', 'department', 'email']
    >>> str(arrow_schema(TABLES["orders"]).field("amount").type)
    'decimal128(18, 2)'
    """
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type], nullable=not c.required) for c in spec.columns])


# --- low-level helpers --------------------------------------------------------------------------------------

def _day(d: date) -> int:
    return (d - _EPOCH).days


def _money(cents: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Exact DECIMAL(18,2) from integer cents (two's complement 128-bit words, no float on the way)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    arr = pa.Array.from_buffers(_MONEY, len(cents), [None, pa.py_buffer(words)])
    if mask is not None and mask.any():
        arr = pc.if_else(pa.array(~mask), arr, pa.scalar(None, _MONEY))
    return arr


def _ids(prefix: str, first: int, n: int, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(np.arange(first, first + n, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _pick(vocab: tuple[str, ...], idx: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(vocab, pa.string()).take(pa.array(idx, mask=mask))


def _concat(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _table(name: str, cols: dict[str, Any]) -> pa.Table:
    schema = arrow_schema(TABLES[name])
    arrays = []
    for fld in schema:
        value = cols[fld.name]
        if isinstance(value, pa.ChunkedArray | pa.Array):
            arrays.append(value.cast(fld.type) if value.type != fld.type else value)
        else:
            values, mask = value if isinstance(value, tuple) else (value, None)
            if pa.types.is_timestamp(fld.type) or pa.types.is_date(fld.type):
                values = np.asarray(values, dtype=np.int64 if pa.types.is_timestamp(fld.type) else np.int32)
            arrays.append(pa.array(values, type=fld.type, mask=mask))
    return pa.Table.from_arrays(arrays, schema=schema)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _rank_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each run of ``counts`` (rows are grouped contiguously)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_segment_starts(counts), counts)


def _names(rng: np.random.Generator, n: int) -> pa.Array:
    return _concat(_pick(_SURNAMES, rng.integers(0, len(_SURNAMES), n)),
                   _pick(_GIVEN, rng.integers(0, len(_GIVEN), n)))


# --- the world: calendar, owners, products ------------------------------------------------------------------

@dataclass
class _World:
    start_day: int
    end_day: int
    weight: np.ndarray          # seasonal intensity per day, mean 1
    clock: np.ndarray           # cumulative intensity at day boundaries (len = days + 1)
    owner_dept: np.ndarray      # department index per owner (owners sorted by department)
    dept_first: np.ndarray      # first owner index per department
    dept_count: np.ndarray      # owners per department
    price: np.ndarray           # product list price in cents, ascending
    cost: np.ndarray            # product unit cost in cents
    owners: pa.Table
    products: pa.Table

    @property
    def days(self) -> int:
        return self.end_day - self.start_day + 1


def _seasonal_weight(start_day: int, days: int) -> np.ndarray:
    dates = np.arange(start_day, start_day + days).astype("datetime64[D]")
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    weekday = (np.arange(start_day, start_day + days) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    w = 1.0 + 0.18 * np.cos(2 * np.pi * (doy - 330) / 365.25)           # autumn/winter high season
    w *= np.where(weekday >= 5, 0.7, 1.08)                               # quiet weekends
    w *= np.where((doy >= 25) & (doy <= 48), 0.55, 1.0)                  # Chinese New Year (late Jan-Feb)
    w *= np.where((doy >= 310) & (doy <= 314), 2.2, 1.0)                 # 11.11 shopping festival
    w *= np.where((doy >= 340) & (doy <= 358), 1.35, 1.0)                # December peak
    return w / w.mean()


def _world(seq: np.random.SeedSequence, customers: int, start: date, end: date) -> _World:
    rng = np.random.default_rng(seq)
    start_day, end_day = _day(start), _day(end)
    weight = _seasonal_weight(start_day, end_day - start_day + 1)
    clock = np.concatenate([[0.0], np.cumsum(weight)])

    # Owners: about one rep per 1,500 customers, at least one per department.
    n_owners = max(len(_DEPARTMENTS), customers // 1500)
    share = _DEPT_WEIGHT / _DEPT_WEIGHT.sum()
    dept_count = np.maximum(1, np.floor(share * n_owners).astype(np.int64))
    owner_dept = np.repeat(np.arange(len(_DEPARTMENTS)), dept_count)
    n_owners = len(owner_dept)
    dept_first = _segment_starts(dept_count)
    owner_ids = _ids("U", 1, n_owners, 4)
    owners = _table("owners", {
        "owner_id": owner_ids,
        "name": _names(rng, n_owners),
        "department": _pick(_DEPARTMENTS, owner_dept),
        "email": _concat(pc.utf8_lower(owner_ids), pa.array(["@sales.example.com"] * n_owners)),
    })

    # Products: log-uniform list prices 9.90 .. 20,000 CNY, cost 40-80% of price; sorted by price.
    n_products = 400
    price = np.sort(np.round(np.exp(rng.uniform(np.log(990), np.log(2_000_000), n_products)), -1)).astype(np.int64)
    price = np.where(price % 100 == 0, price - 10, price)  # ... .90 price points
    cost = np.round(price * rng.uniform(0.4, 0.8, n_products)).astype(np.int64)
    category = rng.choice(len(_CATEGORIES), n_products)
    product_ids = _ids("P", 1, n_products, 5)
    products = _table("products", {
        "product_id": product_ids,
        "name": _concat(_pick(_CATEGORIES, category), pa.array([" "] * n_products), product_ids),
        "category": _pick(_CATEGORIES, category),
        "unit_price": _money(price),
        "unit_cost": _money(cost),
    })
    return _World(start_day, end_day, weight, clock, owner_dept, dept_first, dept_count, price, cost,
                  owners, products)


# --- one block of customers and everything they did ---------------------------------------------------------

@dataclass
class _Counters:
    order: int = 1
    ret: int = 1
    invoice: int = 1
    interaction: int = 1
    survey: int = 1
    ticket: int = 1
    opportunity: int = 1


def _block(rng: np.random.Generator, w: _World, first: int, n: int, ctr: _Counters) -> dict[str, pa.Table]:
    start, end_s = w.start_day * _DAY, (w.end_day + 1) * _DAY - 1
    out: dict[str, pa.Table] = {}

    # ---- customers ----
    b2b = rng.random(n) < 0.35
    region = rng.choice(len(_REGIONS), n, p=_REGION_P)
    industry = rng.choice(len(_INDUSTRIES), n, p=_INDUSTRY_P)
    employees = np.clip(np.round(np.exp(rng.normal(np.log(60), 1.6, n))), 1, 300_000).astype(np.int64)
    size = np.searchsorted(_SIZE_EDGES, employees, side="right")
    revenue = np.round(employees * np.exp(rng.normal(np.log(800_000), 0.7, n)), -4).astype(np.int64) * 100
    satisfaction = rng.normal(0.0, 1.0, n)           # latent: drives surveys, tickets, dropout
    pays_late = rng.random(n) < np.where(b2b, 0.3, 0.0)
    stops_paying = rng.random(n) < np.where(b2b, 0.02, 0.0)
    prospect = rng.random(n) < 0.06

    # Department: enterprise B2B mostly Key Accounts, B2C often Inside Sales, else a department of the region.
    n_regional = np.array([len(d) for d in _REGION_DEPTS])
    regional_first = _segment_starts(n_regional)
    dept = regional_first[region] + np.floor(rng.random(n) * n_regional[region]).astype(np.int64)
    dept = np.where(b2b & (size == 4) & (rng.random(n) < 0.7), len(_DEPARTMENTS) - 2, dept)
    dept = np.where(~b2b & (rng.random(n) < 0.5), len(_DEPARTMENTS) - 1, dept)
    owner = w.dept_first[dept] + np.floor(rng.random(n) * w.dept_count[dept]).astype(np.int64)

    # Purchase process (BG/NBD): rate per seasonal day, dropout after each purchase, first order = acquisition.
    lam = rng.gamma(np.where(b2b, 1.6, 0.9), np.where(b2b, 1 / 18 / 1.6, 1 / 30 / 0.9))
    p_drop = np.clip(rng.beta(1.0, 9.0, n) * np.exp(-0.35 * satisfaction), 0.002, 0.9)
    # Spend (Gamma-Gamma): order value ~ Gamma(6, nu), nu ~ Gamma(6, 1/gamma); B2B about 7x B2C, a little more
    # for bigger companies (kept moderate so that one Gamma-Gamma fit over everybody stays well-posed, q > 1).
    gamma_scale = np.where(b2b, 1400.0 * (employees / 60.0) ** 0.1, 210.0)
    mean_value = 6.0 / rng.gamma(6.0, 1.0 / gamma_scale)
    discount = np.where(b2b, rng.uniform(0.0, 0.15, n), 0.0)

    acq_weight = w.weight[: max(1, w.days - 14)]
    t0_day = rng.choice(len(acq_weight), n, p=acq_weight / acq_weight.sum())
    t0_frac = np.clip(rng.normal(np.where(b2b, 0.45, 0.6), 0.12, n), 0.3, 0.95)
    created_day = w.start_day + t0_day - np.where(b2b, rng.integers(0, 90, n), 0)
    created_day = np.where(prospect, w.start_day + rng.integers(0, w.days, n), created_day)

    cust_idx = first + np.arange(n)
    customer_ids = _ids("C", cust_idx[0] if n else first, n, 7)
    contact = _names(rng, n)
    mask_c = ~b2b
    company = _concat(_pick(tuple(c for cs in _REGION_CITIES for c in cs),
                            _segment_starts(np.array([len(c) for c in _REGION_CITIES]))[region]
                            + rng.integers(0, 3, n) % np.array([len(c) for c in _REGION_CITIES])[region]),
                      _pick(_BRANDS, rng.integers(0, len(_BRANDS), n)),
                      _pick(_INDUSTRY_WORD, industry), pa.array(["有限公司"] * n))
    birthday = _day(date(1950, 1, 1)) + rng.integers(0, 55 * 365, n)
    credit = np.round(mean_value * lam * 90 * 3, -4).astype(np.int64) * 100 + 1_000_000
    out["customers"] = _table("customers", {
        "customer_id": customer_ids,
        "name": pc.if_else(pa.array(b2b), company, contact),
        "type": _pick(("B2C", "B2B"), b2b.astype(np.int64)),
        "industry": _pick(_INDUSTRIES, industry, mask_c),
        "employees": (employees, mask_c),
        "size": _pick(_SIZE_BANDS, size, mask_c),
        "annual_revenue": _money(revenue, mask_c),
        "region": _pick(_REGIONS, region),
        "country": _pick(_COUNTRIES, rng.choice(len(_COUNTRIES), n, p=_COUNTRY_P)),
        "owner_id": w.owners["owner_id"].take(pa.array(owner)),
        "department": _pick(_DEPARTMENTS, dept),
        "created_on": created_day,
        "birthday": (birthday, b2b),
        "contact_name": contact,
        "phone": _concat(pa.array(["1"] * n), _pick(("38", "39", "58", "86", "88"), rng.integers(0, 5, n)),
                         pc.utf8_lpad(pa.array(rng.integers(0, 10**8, n)).cast(pa.string()), 8, "0")),
        "email": _concat(pc.utf8_lower(customer_ids), pa.array(["@example.com"] * n)),
        "credit_limit": _money(credit, mask_c),
        "is_stub": np.zeros(n, dtype=bool),
    })

    # ---- orders: first purchase + repeat purchases in the seasonal clock ----
    buyers = np.flatnonzero(~prospect)
    clock0 = w.clock[t0_day[buyers]] + w.weight[t0_day[buyers]] * t0_frac[buyers]
    horizon = w.clock[-1] - clock0
    n_events = rng.poisson(lam[buyers] * horizon)
    max_repeats = rng.geometric(p_drop[buyers])
    n_repeat = np.minimum(n_events, max_repeats)
    owner_of_event = np.repeat(np.arange(len(buyers)), n_events)
    key = owner_of_event + rng.random(len(owner_of_event))
    key.sort()
    keep = _rank_in_group(n_events) < np.repeat(n_repeat, n_events)
    key = key[keep]
    ev_buyer = np.floor(key).astype(np.int64)
    ev_clock = clock0[ev_buyer] + (key - ev_buyer) * horizon[ev_buyer]
    ev_day = np.clip(np.interp(ev_clock, w.clock, np.arange(w.days + 1)), 0, w.days - 1e-9)
    # Orders, grouped by customer in time order: the first purchase, then the repeats.
    o_buyer = np.concatenate([np.arange(len(buyers)), ev_buyer])
    o_daypos = np.concatenate([t0_day[buyers] + t0_frac[buyers], ev_day])
    order = np.lexsort((o_daypos, o_buyer))
    o_buyer, o_daypos = o_buyer[order], o_daypos[order]
    o_cust = buyers[o_buyer]
    o_b2b = b2b[o_cust]
    n_orders = len(o_cust)
    hour = np.clip(rng.normal(np.where(o_b2b, 13.0, 16.0), np.where(o_b2b, 2.5, 4.0)), 7.0, 23.5)
    o_ts = start + np.floor(o_daypos).astype(np.int64) * _DAY + (hour * 3600).astype(np.int64)
    o_ts = np.minimum(o_ts, end_s)

    # ---- order lines: value split over 1..n lines, products near the line value ----
    o_value = rng.gamma(6.0, mean_value[o_cust] / 6.0)
    n_lines = 1 + rng.poisson(np.where(o_b2b, 1.4, 0.5))
    l_order = np.repeat(np.arange(n_orders), n_lines)
    share = rng.standard_gamma(1.0, len(l_order))
    share /= np.bincount(l_order, weights=share, minlength=n_orders)[l_order]
    l_value = o_value[l_order] * share * 100.0  # cents
    lo = np.searchsorted(w.price, l_value / 25.0)
    hi = np.searchsorted(w.price, l_value, side="right")
    hi = np.clip(np.maximum(hi, lo + 1), 1, len(w.price))
    lo = np.minimum(lo, hi - 1)
    product = lo + np.floor(rng.random(len(l_order)) * (hi - lo)).astype(np.int64)
    unit_price = np.round(w.price[product] * (1.0 - discount[o_cust][l_order])).astype(np.int64)
    quantity = np.clip(np.round(l_value / unit_price), 1, 10_000).astype(np.int64)
    l_amount = quantity * unit_price
    l_cost = quantity * w.cost[product]
    line_start = _segment_starts(n_lines)
    o_amount = np.add.reduceat(l_amount, line_start) if n_orders else np.zeros(0, np.int64)
    o_cost = np.add.reduceat(l_cost, line_start) if n_orders else np.zeros(0, np.int64)

    o_status = (rng.random(n_orders) < np.where(o_b2b, 0.01, 0.03)).astype(np.int64)  # 1 = cancelled
    completed = o_status == 0
    chan_b2b = rng.choice(3, n_orders, p=(0.55, 0.25, 0.2))
    chan_b2c = rng.choice(3, n_orders, p=(0.6, 0.25, 0.15))
    o_channel = np.where(o_b2b, chan_b2b, 3 + chan_b2c)
    channels = _CHANNELS_B2B + _CHANNELS_B2C

    # Returns: the first line of some completed orders comes back 2-30 days later (a reversal document).
    r_ts = o_ts + rng.integers(2 * _DAY, 30 * _DAY, n_orders)
    returned = completed & (rng.random(n_orders) < np.where(o_b2b, 0.02, 0.06)) & (r_ts <= end_s)
    r_src = np.flatnonzero(returned)
    r_line = line_start[r_src]
    n_ret = len(r_src)

    order_ids = _ids("SO", ctr.order, n_orders, 9)
    return_ids = _ids("RT", ctr.ret, n_ret, 9)
    ctr.order += n_orders
    ctr.ret += n_ret
    all_order_ids = pa.concat_arrays([order_ids, return_ids])
    o_cust_all = np.concatenate([o_cust, o_cust[r_src]])
    out["orders"] = _table("orders", {
        "order_id": all_order_ids,
        "customer_id": customer_ids.take(pa.array(o_cust_all)),
        "order_date": np.concatenate([o_ts, r_ts[r_src]]),
        "amount": _money(np.concatenate([o_amount, -l_amount[r_line]])),
        "cost": _money(np.concatenate([o_cost, -l_cost[r_line]])),
        "currency": pa.array([_CURRENCY]).take(pa.array(np.zeros(n_orders + n_ret, dtype=np.int64))),
        "status": _pick(("completed", "cancelled", "returned"),
                        np.concatenate([o_status, np.full(n_ret, 2, dtype=np.int64)])),
        "channel": _pick(channels, np.concatenate([o_channel, o_channel[r_src]])),
    })
    out["order_lines"] = _table("order_lines", {
        "order_id": all_order_ids.take(pa.array(np.concatenate([l_order, n_orders + np.arange(n_ret)]))),
        "line_no": np.concatenate([_rank_in_group(n_lines) + 1, np.ones(n_ret, dtype=np.int64)]),
        "product_id": w.products["product_id"].take(pa.array(np.concatenate([product, product[r_line]]))),
        "description": w.products["name"].take(pa.array(np.concatenate([product, product[r_line]]))),
        "quantity": _money(np.concatenate([quantity, -quantity[r_line]]) * 100),
        "unit_price": _money(np.concatenate([unit_price, unit_price[r_line]])),
        "amount": _money(np.concatenate([l_amount, -l_amount[r_line]])),
        "unit_cost": _money(np.concatenate([w.cost[product], w.cost[product[r_line]]])),
    })

    # Per-customer activity window: from creation to 120 days after the last order (or the end).
    last_ts = np.full(n, -1, dtype=np.int64)
    if n_orders:
        last_ts[o_cust] = o_ts  # orders are time-sorted within customer: the last write wins
    created_s = np.maximum(created_day, w.start_day) * _DAY
    active_end = np.where(last_ts >= 0, np.minimum(last_ts + 120 * _DAY, end_s), end_s)
    active_end = np.maximum(active_end, created_s + _DAY)
    active_end = np.minimum(active_end, end_s)
    active_len = np.maximum(active_end - created_s, 1)

    # ---- invoices: B2B completed orders, 30/60-day terms, late payers, disputes, open items ----
    inv_src = np.flatnonzero(completed & o_b2b)
    i_cust = o_cust[inv_src]
    terms = np.where((i_cust * 2654435761 % 10) < 7, 30, 60)  # fixed per customer
    issued = o_ts[inv_src] // _DAY
    due = issued + terms
    n_inv = len(inv_src)
    disputed = rng.random(n_inv) < 0.03 * np.exp(-0.4 * satisfaction[i_cust])
    late_by = np.where(pays_late[i_cust], np.ceil(rng.gamma(1.5, 9.0, n_inv)), 0)
    early_by = np.floor(rng.random(n_inv) * terms * 0.8)
    paid = np.where(late_by > 0, due + late_by, due - early_by)
    paid = np.where(disputed, due + 20 + rng.integers(0, 60, n_inv), paid)
    paid = np.where(rng.random(n_inv) < 0.03, due + rng.integers(1, 15, n_inv), paid)  # occasional slip
    # Customers who stop paying leave their last invoices open.
    inv_rank_from_end = np.zeros(n_inv, dtype=np.int64)
    if n_inv:
        counts = np.bincount(i_cust - i_cust.min(), minlength=int(i_cust.max() - i_cust.min() + 1))
        counts = counts[counts > 0]
        inv_rank_from_end = np.repeat(counts, counts) - 1 - _rank_in_group(counts)
    never = stops_paying[i_cust] & (inv_rank_from_end < 3)
    open_ = (paid > w.end_day) | never
    paid_cents = np.where(disputed & (rng.random(n_inv) < 0.4), np.round(o_amount[inv_src] * 0.8),
                          o_amount[inv_src]).astype(np.int64)
    out["invoices"] = _table("invoices", {
        "invoice_id": _ids("INV", ctr.invoice, n_inv, 9),
        "customer_id": customer_ids.take(pa.array(i_cust)),
        "issued_on": issued,
        "due_on": due,
        "amount": _money(o_amount[inv_src]),
        "paid_on": (np.where(open_, 0, paid), open_),
        "paid_amount": _money(paid_cents, open_),
        "disputed": disputed,
        "currency": pa.array([_CURRENCY] * n_inv, pa.string()),
    })
    ctr.invoice += n_inv

    # ---- interactions: visits with dwell time, e-mails, calls, meetings ----
    n_int = rng.poisson(np.where(b2b, 6.0, 3.0) * np.clip(active_len / (365 * _DAY), 0.1, None) ** 0.7
                        * (0.5 + np.minimum(lam * 30, 4.0)))
    it_cust = np.repeat(np.arange(n), n_int)
    it_ts = created_s[it_cust] + (rng.random(len(it_cust)) * active_len[it_cust]).astype(np.int64)
    it_ts = np.sort(it_ts + it_cust.astype(np.int64) * (1 << 40)) - it_cust.astype(np.int64) * (1 << 40)
    u = rng.random(len(it_cust))
    cum_b2b, cum_b2c = np.cumsum(_ITYPE_P_B2B), np.cumsum(_ITYPE_P_B2C)
    itype = np.where(b2b[it_cust], np.searchsorted(cum_b2b, u * cum_b2b[-1], side="right"),
                     np.searchsorted(cum_b2c, u * cum_b2c[-1], side="right"))
    itype = np.minimum(itype, len(_ITYPES) - 1)
    dur = np.select([itype == 0, itype == 3, itype == 4, itype == 5],
                    [np.exp(rng.normal(np.log(95), 1.0, len(itype))),
                     np.exp(rng.normal(np.log(240), 0.8, len(itype))),
                     rng.uniform(1800, 5400, len(itype)), np.exp(rng.normal(np.log(300), 0.6, len(itype)))],
                    default=np.nan)
    no_dur = np.isnan(dur)
    pages = 1 + rng.poisson(3.0, len(itype))
    ichannel = np.where((itype == 0) & (rng.random(len(itype)) < 0.4), len(_ICHANNEL), itype)
    out["interactions"] = _table("interactions", {
        "interaction_id": _ids("IN", ctr.interaction, len(itype), 10),
        "customer_id": customer_ids.take(pa.array(it_cust)),
        "occurred_at": it_ts,
        "type": _pick(_ITYPES, itype),
        "duration_seconds": (np.round(np.where(no_dur, 0.0, dur), 1), no_dur),
        "pages": (pages, itype != 0),
        "channel": _pick((*_ICHANNEL, "mobile"), ichannel),
    })
    ctr.interaction += len(itype)

    # ---- surveys: 1-3 answers per responding buyer, four dimensions each, 1-5 or 1-10 scale ----
    has_orders = last_ts >= 0
    n_surv = np.where(has_orders & (rng.random(n) < 0.35), 1 + rng.binomial(2, 0.25, n), 0)
    s_cust = np.repeat(np.arange(n), n_surv)
    s_first = np.maximum(created_s[s_cust], start) + 7 * _DAY
    s_span = np.maximum(np.minimum(last_ts[s_cust] + 30 * _DAY, end_s) - s_first, _DAY)
    s_day = np.minimum(s_first + (rng.random(len(s_cust)) * s_span).astype(np.int64), end_s) // _DAY
    n_s = len(s_cust)
    scale10 = rng.random(n_s) < 0.5
    would = np.clip(np.round(7.2 + 2.0 * satisfaction[s_cust] + rng.normal(0, 1.2, n_s)), 0, 10)
    has_after = rng.random(n_s) < 0.7
    n_dims = np.where(has_after, 4, 3)
    d_surv = np.repeat(np.arange(n_s), n_dims)
    d_dim = _rank_in_group(n_dims)
    top = np.where(scale10[d_surv], 10.0, 5.0)
    latent = 0.8 * satisfaction[s_cust][d_surv] + 0.6 * rng.normal(0, 1, len(d_surv))
    score = np.clip(np.round(1 + (top - 1) * (0.62 + 0.2 * latent)), 1, top)
    survey_ids = _ids("SV", ctr.survey, n_s, 9)
    ctr.survey += n_s
    out["surveys"] = _table("surveys", {
        "survey_id": survey_ids.take(pa.array(d_surv)),
        "customer_id": customer_ids.take(pa.array(s_cust[d_surv])),
        "answered_on": s_day[d_surv],
        "dimension": _pick(_SURVEY_DIMS, d_dim),
        "score": score,
        "scale_min": np.ones(len(d_surv)),
        "scale_max": top,
        "would_recommend": would[d_surv].astype(np.int64),
    })

    # ---- tickets: more (and more complaints) for unhappy, bigger, busier customers ----
    t_rate = 0.25 * np.exp(-0.5 * satisfaction) * np.where(b2b, 1.8, 1.0) * np.where(has_orders, 1.0, 0.1)
    n_tk = rng.poisson(t_rate * np.clip(active_len / (365 * _DAY), 0.1, None))
    t_cust = np.repeat(np.arange(n), n_tk)
    n_t = len(t_cust)
    opened = created_s[t_cust] + (rng.random(n_t) * active_len[t_cust]).astype(np.int64)
    category = rng.choice(len(_TICKET_CATEGORIES), n_t, p=_TICKET_CAT_P)
    severity = rng.choice(len(_SEVERITIES), n_t, p=_SEVERITY_P)
    closed = opened + (rng.gamma(1.2, 20.0, n_t) * 3600 * (1 + severity)).astype(np.int64)
    still_open = (closed > end_s) | (rng.random(n_t) < 0.02)
    complaint = (np.isin(category, (0, 1, 2)) & (rng.random(n_t) < 0.3 + 0.2 * (satisfaction[t_cust] < -0.5))
                 | (severity == 3))
    out["tickets"] = _table("tickets", {
        "ticket_id": _ids("TK", ctr.ticket, n_t, 9),
        "customer_id": customer_ids.take(pa.array(t_cust)),
        "opened_at": opened,
        "closed_at": (np.where(still_open, 0, closed), still_open),
        "category": _pick(_TICKET_CATEGORIES, category),
        "severity": _pick(_SEVERITIES, severity),
        "is_complaint": complaint,
    })
    ctr.ticket += n_t

    # ---- opportunities: B2B accounts and prospects; old ones are won or lost, recent ones open ----
    n_op = np.where(b2b | prospect, rng.poisson(np.where(prospect, 1.3, 0.9)), 0)
    n_op = np.where(prospect & (n_op == 0), 1, n_op)
    p_cust = np.repeat(np.arange(n), n_op)
    n_p = len(p_cust)
    p_created = (created_s[p_cust] + (rng.random(n_p) * active_len[p_cust]).astype(np.int64)) // _DAY
    cycle = rng.integers(20, 150, n_p)
    expected = p_created + cycle
    fit = np.clip(np.round(3 + 1.1 * rng.normal(0, 1, n_p) + 0.5 * np.log(lam[p_cust] * 30 + 0.05)), 1, 5)
    urgency = rng.integers(1, 6, n_p)
    decided = expected < w.end_day - 10
    won = rng.random(n_p) < 0.15 + 0.08 * fit + 0.03 * urgency
    stage = np.where(decided, np.where(won, 4, 5), rng.integers(0, 4, n_p))
    p_value = np.round(mean_value[p_cust] * rng.uniform(1.5, 6.0, n_p), 0).astype(np.int64) * 100
    out["opportunities"] = _table("opportunities", {
        "opportunity_id": _ids("OP", ctr.opportunity, n_p, 9),
        "customer_id": customer_ids.take(pa.array(p_cust)),
        "created_on": p_created,
        "stage": _pick((*_OPEN_STAGES, "won", "lost"), stage),
        "value": _money(p_value),
        "urgency": urgency,
        "fit": fit.astype(np.int64),
        "expected_close_on": expected,
    })
    ctr.opportunity += n_p
    return out


# --- public API -----------------------------------------------------------------------------------------------

Seed = int | np.random.Generator | np.random.SeedSequence | None


def _seed_sequence(seed: Seed) -> tuple[np.random.SeedSequence, int | None]:
    if isinstance(seed, np.random.SeedSequence):
        return seed, None
    if isinstance(seed, np.random.Generator):
        entropy = int(seed.integers(0, 2**63))
        return np.random.SeedSequence(entropy), None
    if seed is None:
        seed = 0
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise CrmscoreError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(int(seed)), int(seed)


def _history_start(end: date, years: int) -> date:
    """The day after ``end`` minus ``years`` years (so three years end 2024-12-31 start 2022-01-01)."""
    day = min(end.day, 28) if (end.month, end.day) == (2, 29) else end.day
    return date.fromordinal(date(end.year - years, end.month, day).toordinal() + 1)


def _check(customers: int, years: int) -> None:
    if not isinstance(customers, int | np.integer) or customers < 1:
        raise CrmscoreError(f"the number of customers must be a positive integer, got {customers!r}",
                            "try --customers 1000")
    if years < 1:
        raise CrmscoreError(f"years of history must be at least 1, got {years}")


def iter_blocks(customers: int, *, seed: Seed = 0, end: date = DEFAULT_END,
                years: int = 3) -> Iterator[dict[str, pa.Table]]:
    """Yield the data block by block: first ``owners`` and ``products``, then one dict per customer block.

    Each block holds at most :data:`BLOCK_CUSTOMERS` customers with all their orders, lines, invoices,
    interactions, surveys, tickets and opportunities; identifiers run on across blocks.

    >>> blocks = list(iter_blocks(10, seed=1))
    >>> sorted(blocks[0]), blocks[1]["customers"].num_rows
    (['owners', 'products'], 10)
    """
    _check(customers, years)
    root, _ = _seed_sequence(seed)
    world_seq, blocks_seq = root.spawn(2)
    start = _history_start(end, years)
    w = _world(world_seq, customers, start, end)
    yield {"owners": w.owners, "products": w.products}
    ctr = _Counters()
    n_blocks = -(-customers // BLOCK_CUSTOMERS)
    for k, child in enumerate(blocks_seq.spawn(n_blocks)):
        first = 1 + k * BLOCK_CUSTOMERS
        size = min(BLOCK_CUSTOMERS, customers - k * BLOCK_CUSTOMERS)
        yield _block(np.random.default_rng(child), w, first, size, ctr)


def generate(customers: int, *, seed: Seed = 0, end: date = DEFAULT_END,
             years: int = 3) -> dict[str, pa.Table]:
    """All tables in memory, as ``{table name: pyarrow.Table}`` (use ``.to_pandas()`` for pandas).

    ``end`` is the last day of the history (the natural ``as_of`` for scoring); history starts ``years``
    earlier. The same arguments give identical tables.

    >>> t = generate(500, seed=3)
    >>> t["customers"].num_rows, t["orders"].num_rows > 500
    (500, True)
    >>> set(t["orders"].column("status").to_pylist()) == {"completed", "cancelled", "returned"}
    True
    """
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLE_ORDER}
    for block in iter_blocks(customers, seed=seed, end=end, years=years):
        for name, table in block.items():
            parts[name].append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def write(out_dir: str | Path, customers: int, *, seed: Seed = 0,
          format: Literal["csv", "parquet"] = "csv", end: date = DEFAULT_END, years: int = 3,
          tables: tuple[str, ...] | None = None,
          progress: Callable[[int, int], None] | None = None) -> SynthSummary:
    """Write every table to ``out_dir/<table>.csv`` (or ``.parquet``), block by block, and a ``manifest.json``.

    Memory stays bounded by one block whatever ``customers`` is. ``tables`` restricts what is written (all by
    default; the data generated is the same). ``progress(done, total)`` is called after each block.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     summary = write(d, 200, seed=5)
    ...     sorted(p.name for p in Path(d).iterdir())[:3], summary.rows["customers"]
    (['customers.csv', 'interactions.csv', 'invoices.csv'], 200)
    """
    if format not in FORMATS:
        raise CrmscoreError(f"unknown output format {format!r}", f"use one of: {', '.join(FORMATS)}")
    _check(customers, years)
    wanted = tuple(TABLE_ORDER) if tables is None else tables
    for name in wanted:
        if name not in TABLES:
            raise UnknownName("table", name, TABLES)
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root, seed_value = _seed_sequence(seed)
    start = _history_start(end, years)
    summary = SynthSummary(customers, seed_value, format, start, end)
    writers: dict[str, Any] = {}
    n_blocks = -(-customers // BLOCK_CUSTOMERS) if customers > 0 else 0
    try:
        for k, block in enumerate(iter_blocks(customers, seed=root, end=end, years=years)):
            for name, table in block.items():
                summary.rows[name] = summary.rows.get(name, 0) + table.num_rows
                if name not in wanted:
                    continue
                if name not in writers:
                    file = out / f"{name}.{format}"
                    summary.files[name] = str(file)
                    if format == "csv":
                        writers[name] = pacsv.CSVWriter(file, table.schema,
                                                        write_options=pacsv.WriteOptions(quoting_style="needed"))
                    else:
                        writers[name] = pq.ParquetWriter(file, table.schema, compression="zstd")
                writers[name].write_table(table)
            if progress is not None and k > 0:
                progress(k, n_blocks)
    finally:
        for writer in writers.values():
            writer.close()
    summary.seconds = time.perf_counter() - t_start
    manifest = summary.to_dict() | {"seconds": None, "generator": "crmscore.synth", "version": 1}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary
