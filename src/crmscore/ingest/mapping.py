"""Column mapping: which source column feeds which canonical field.

A mapping comes from a YAML mapping file or automatically from the header: synonyms in English and Chinese
(``客户编号``, ``下单日期`` ...), the field API names of Zoho CRM exports (Accounts, Contacts, Deals,
Sales_Orders, Invoices) and of Fxiaoke (纷享销客) objects (AccountObj, SalesOrderObj, ContactObj,
NewOpportunityObj ...). Headers are compared after normalisation (lower case, no spaces, ``_``, ``-`` ...).

>>> m = auto_mapping("orders", ["SO_Number", "Account_Name", "Grand_Total", "Status", "Created_Time", "Subject"])
>>> m.columns
{'order_id': 'SO_Number', 'customer_id': 'Account_Name', 'order_date': 'Created_Time', 'amount': 'Grand_Total', 'status': 'Status'}
>>> auto_mapping("customers", ["客户编号", "客户名称", "行业", "负责人"]).columns
{'customer_id': '客户编号', 'name': '客户名称', 'industry': '行业', 'owner_id': '负责人'}

A mapping file (all keys but ``columns`` optional):

```yaml
kind: orders
format: whitespace        # csv | tsv | whitespace | xlsx | parquet | jsonl (default: detected)
header: false             # no header row: refer to columns by position (1 = first)
encoding: utf-8           # default: detected (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16 ...)
delimiter: ","            # CSV only; default: sniffed
sheet: Orders             # XLSX only; default: the first sheet
day_first: false          # 3/5/2024 is 5 March when true
columns:                  # canonical field: source column name or 1-based position
  customer_id: 1
  order_date: 3
  amount: 5
constants:                # canonical field: raw value used for every row
  currency: USD
generate_id: [customer_id, order_date]   # key = these raw values + sequence number, when the file has none
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmscore.errors import ConfigError, ConfigIssue, InputFileError, suggest
from crmscore.schema import TABLES, table_for_kind

__all__ = [
    "EXTRA_FIELDS",
    "FILE_FORMATS",
    "SYNONYMS",
    "Mapping",
    "auto_mapping",
    "load_mapping",
    "normalise_header",
    "save_mapping",
    "target_fields",
    "validate_mapping",
]

FILE_FORMATS = ("csv", "tsv", "whitespace", "xlsx", "parquet", "jsonl")

# Fields an import may carry besides the table's own columns: order-level fields on order lines (used to derive
# orders) and customer attributes used when a stub customer is created.
EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "order_lines": ("customer_id", "order_date", "status", "currency", "channel", "country", "customer_name"),
    "orders": ("country", "customer_name"),
}

# Synonyms valid wherever the field exists. Earlier synonyms win when several headers match one field.
_GENERIC: dict[str, tuple[str, ...]] = {
    "customer_id": ("customer_id", "customerid", "customer_no", "customer_number", "customer_code", "cust_id",
                    "client_id", "account_id", "account_number", "accountno", "member_id", "buyer_id",
                    "客户编号", "客户ID", "客户id", "客户代码", "客户编码", "客户号", "会员编号", "会员ID", "账户编号",
                    "account_name", "accountname", "客户名称", "客户", "客户名", "所属客户"),
    "order_id": ("order_id", "orderid", "order_no", "order_number", "invoice_no", "invoiceno", "invoice",
                 "so_number", "sales_order_id", "document_no", "订单号", "订单编号", "订单ID", "单号", "销售订单编号",
                 "销售订单号", "订单", "发票号", "单据编号"),
    "order_date": ("order_date", "orderdate", "invoice_date", "invoicedate", "date", "purchase_date",
                   "transaction_date", "created_time", "created_at", "order_time", "下单日期", "订单日期", "下单时间",
                   "订单时间", "日期", "购买日期", "交易日期", "成交日期", "创建时间"),
    "amount": ("amount", "order_amount", "total", "grand_total", "total_amount", "sales", "revenue", "value",
               "net_amount", "dollars", "订单金额", "金额", "总金额", "订单总额", "合计", "销售额", "成交金额", "价税合计",
               "发票金额", "实付金额"),
    "status": ("status", "order_status", "state", "订单状态", "状态", "单据状态", "life_status"),
    "currency": ("currency", "currency_code", "币种", "货币"),
    "channel": ("channel", "sales_channel", "source", "渠道", "销售渠道", "来源"),
    "cost": ("cost", "total_cost", "cogs", "成本", "总成本"),
    "name": ("name", "customer_name", "company", "company_name", "account_name", "客户名称", "公司名称", "名称",
             "姓名", "full_name"),
    "country": ("country", "billing_country", "mailing_country", "nation", "国家", "国家地区", "国家/地区"),
    "region": ("region", "province", "state", "billing_state", "area", "地区", "区域", "省份", "省", "所在地区"),
    "industry": ("industry", "sector", "industry_level1", "行业", "所属行业", "行业类型"),
    "employees": ("employees", "employee_count", "no_of_employees", "headcount", "员工人数", "员工数", "人员规模"),
    "size": ("size", "company_size", "customer_size", "企业规模", "规模", "公司规模"),
    "annual_revenue": ("annual_revenue", "revenue", "turnover", "年营业额", "年收入", "年销售额", "营业收入"),
    "owner_id": ("owner_id", "owner", "account_owner", "sales_rep", "salesperson", "rep", "owner_name",
                 "负责人", "销售负责人", "客户负责人", "归属人", "销售", "业务员", "销售代表"),
    "department": ("department", "owner_department", "dept", "team", "所属部门", "部门", "负责人所属部门",
                   "销售部门"),
    "created_on": ("created_on", "created_time", "created_date", "create_time", "created_at", "创建日期",
                   "创建时间", "建档日期", "注册日期"),
    "birthday": ("birthday", "date_of_birth", "birth_date", "dob", "生日", "出生日期"),
    "contact_name": ("contact_name", "contact", "primary_contact", "联系人", "联系人姓名"),
    "phone": ("phone", "telephone", "tel", "mobile", "phone_number", "电话", "联系电话", "手机", "手机号"),
    "email": ("email", "e_mail", "email_address", "邮箱", "电子邮箱", "邮件"),
    "credit_limit": ("credit_limit", "credit", "信用额度", "授信额度"),
    "type": ("type", "customer_type", "客户类型", "类型", "客户性质"),
    "product_id": ("product_id", "productid", "stockcode", "stock_code", "sku", "item_id", "product_code",
                   "item_code", "产品编号", "产品编码", "商品编号", "商品编码", "物料编码", "产品ID"),
    "description": ("description", "product_name", "item_name", "产品名称", "商品名称", "描述", "品名"),
    "quantity": ("quantity", "qty", "units", "cds", "数量", "购买数量", "销售数量"),
    "unit_price": ("unit_price", "unitprice", "price", "list_price", "单价", "销售单价", "价格"),
    "unit_cost": ("unit_cost", "cost_price", "单位成本", "成本价"),
    "line_no": ("line_no", "line", "line_number", "item_no", "行号", "序号"),
    "category": ("category", "product_category", "类别", "产品类别", "分类"),
    "customer_name": ("customer_name", "客户名称"),
    "invoice_id": ("invoice_id", "invoice_number", "invoicenumber", "invoice_no", "invoiceno", "发票号",
                   "发票编号", "发票号码"),
    "issued_on": ("issued_on", "invoice_date", "invoicedate", "issue_date", "开票日期", "发票日期"),
    "due_on": ("due_on", "due_date", "duedate", "到期日", "到期日期", "应付日期"),
    "paid_on": ("paid_on", "settled_date", "settleddate", "paid_date", "payment_date", "付款日期", "回款日期",
                "结清日期"),
    "paid_amount": ("paid_amount", "amount_paid", "payment_amount", "已付金额", "回款金额", "已回款金额"),
    "disputed": ("disputed", "dispute", "in_dispute", "是否争议", "争议"),
    "interaction_id": ("interaction_id", "activity_id", "event_id", "visit_id", "id", "互动编号", "活动编号"),
    "occurred_at": ("occurred_at", "timestamp", "time", "date", "activity_time", "visit_time", "时间", "发生时间",
                    "互动时间", "访问时间"),
    "duration_seconds": ("duration_seconds", "duration", "dwell_time", "time_on_page", "停留时长", "时长",
                         "停留时间"),
    "pages": ("pages", "page_views", "pageviews", "页面数", "浏览页数"),
    "survey_id": ("survey_id", "response_id", "questionnaire_id", "问卷编号", "问卷ID", "答卷编号"),
    "answered_on": ("answered_on", "survey_date", "response_date", "date", "日期", "调查日期", "填写日期"),
    "dimension": ("dimension", "aspect", "question", "维度", "评价维度", "评价项"),
    "score": ("score", "rating", "satisfaction", "评分", "得分", "满意度", "分数"),
    "scale_min": ("scale_min", "min_score", "最低分"),
    "scale_max": ("scale_max", "max_score", "满分", "最高分"),
    "would_recommend": ("would_recommend", "nps", "recommend", "likelihood_to_recommend", "推荐意愿", "推荐度",
                        "推荐意向"),
    "ticket_id": ("ticket_id", "case_id", "case_number", "ticket_number", "工单号", "工单编号", "投诉编号"),
    "opened_at": ("opened_at", "created_time", "created_at", "opened", "open_date", "创建时间", "受理时间",
                  "投诉时间"),
    "closed_at": ("closed_at", "closed_time", "closed", "close_date", "resolved_at", "关闭时间", "解决时间",
                  "结案时间"),
    "severity": ("severity", "priority", "严重程度", "优先级", "紧急程度"),
    "is_complaint": ("is_complaint", "complaint", "是否投诉", "投诉"),
    "opportunity_id": ("opportunity_id", "deal_id", "opportunityid", "商机编号", "商机ID", "机会编号"),
    "stage": ("stage", "sales_stage", "deal_stage", "阶段", "销售阶段", "商机阶段"),
    "urgency": ("urgency", "紧迫度", "紧急度", "需求紧迫度"),
    "fit": ("fit", "product_fit", "匹配度", "需求匹配度"),
    "expected_close_on": ("expected_close_on", "closing_date", "close_date", "expected_close_date",
                          "预计成交日期", "预计签单日期", "结单日期"),
}

# Per-table synonyms, tried before the generic ones (CRM API names mean different things in different objects).
_BY_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        # Zoho Accounts / Contacts; Fxiaoke AccountObj / ContactObj
        "customer_id": ("customer_id", "account_number", "account_no", "客户编号", "id", "record_id",
                        "_id", "contact_id"),
        "name": ("account_name", "name", "customer_name", "full_name", "客户名称", "contact_name"),
        "owner_id": ("owner", "account_owner", "contact_owner", "owner_id", "负责人"),
        "created_on": ("created_time", "create_time", "created_on", "创建时间", "创建日期"),
        "type": ("customer_type", "type", "客户类型", "客户性质"),
        "contact_name": ("contact_name", "contact", "联系人"),
        "phone": ("phone", "tel", "mobile", "电话", "手机"),
        "country": ("billing_country", "mailing_country", "country", "国家"),
        "region": ("billing_state", "mailing_state", "region", "province", "地区", "省份"),
        "annual_revenue": ("annual_revenue", "年营业额", "年收入"),
        "employees": ("employees", "员工人数"),
    },
    "orders": {
        # Zoho Sales_Orders; Fxiaoke SalesOrderObj
        "order_id": ("so_number", "order_id", "order_no", "订单号", "订单编号", "销售订单编号", "invoiceno",
                     "invoice_no", "name", "id"),
        "customer_id": ("customer_id", "客户编号", "account_id", "account_name", "客户名称", "customer"),
        "amount": ("grand_total", "order_amount", "amount", "订单金额", "total", "sub_total", "金额"),
        "order_date": ("order_date", "order_time", "下单日期", "created_time", "create_time", "invoicedate"),
        "status": ("status", "order_status", "订单状态", "life_status"),
        "customer_name": ("customer_name", "客户名称"),
    },
    "order_lines": {
        "order_id": ("invoiceno", "invoice_no", "order_id", "order_no", "订单号", "so_number", "sales_order_id"),
        "customer_id": ("customerid", "customer_id", "客户编号", "account_id", "account_name", "客户名称"),
        "order_date": ("invoicedate", "invoice_date", "order_date", "下单日期", "order_time", "created_time"),
        "product_id": ("stockcode", "product_id", "product_code", "sku", "产品编号", "product_name"),
        "amount": ("line_amount", "total", "amount", "金额", "小计", "subtotal", "sales"),
    },
    "invoices": {
        # Zoho Invoices; the IBM accounts-receivable sample
        "invoice_id": ("invoice_number", "invoicenumber", "invoice_id", "invoice_no", "发票号", "发票编号", "id"),
        "customer_id": ("customerid", "customer_id", "account_id", "account_name", "客户编号", "客户名称"),
        "amount": ("grand_total", "invoiceamount", "invoice_amount", "amount", "发票金额", "金额"),
        "issued_on": ("invoice_date", "invoicedate", "issued_on", "开票日期"),
        "due_on": ("due_date", "duedate", "due_on", "到期日"),
    },
    "opportunities": {
        # Zoho Deals; Fxiaoke NewOpportunityObj / OpportunityObj
        "opportunity_id": ("opportunity_id", "deal_id", "商机编号", "id", "name", "deal_name"),
        "customer_id": ("account_name", "account_id", "customer_id", "客户编号", "客户名称"),
        "value": ("amount", "expected_revenue", "value", "deal_amount", "商机金额", "金额", "预计金额"),
        "created_on": ("created_time", "create_time", "created_on", "创建时间", "创建日期"),
        "stage": ("stage", "sales_stage", "阶段", "商机阶段"),
        "expected_close_on": ("closing_date", "close_date", "expected_deal_date", "预计成交日期"),
    },
    "owners": {
        "owner_id": ("owner_id", "user_id", "employee_id", "id", "负责人编号", "员工编号", "工号"),
        "name": ("name", "full_name", "user_name", "owner", "负责人", "姓名", "员工姓名"),
    },
    "products": {
        "name": ("product_name", "name", "description", "产品名称", "商品名称"),
        "product_id": ("product_id", "product_code", "stockcode", "sku", "产品编号", "产品编码", "id"),
    },
    "interactions": {"type": ("type", "activity_type", "interaction_type", "event_type", "类型", "互动类型")},
    "tickets": {"category": ("category", "type", "case_type", "类别", "工单类型", "问题类型")},
}

_NORM_RE = re.compile(r"[\s_\-./()（）:：#\[\]]+")


def normalise_header(header: str) -> str:
    """Header text as compared with synonyms.

    >>> normalise_header(" Account_Name ")
    'accountname'
    >>> normalise_header("国家/地区")
    '国家地区'
    """
    return _NORM_RE.sub("", str(header).strip().lstrip("\ufeff").lower())


def target_fields(kind: str) -> list[str]:
    """Canonical fields an import of ``kind`` can fill: the table's columns plus its extra fields."""
    spec = table_for_kind(kind)
    extras = [f for f in EXTRA_FIELDS.get(spec.name, ()) if f not in spec.column_names]
    return [*spec.column_names, *extras]


# Generic synonyms that are wrong in one table (a customer's name is not its id in the customer master).
_EXCLUDE: dict[tuple[str, str], set[str]] = {
    ("customers", "customer_id"): {"account_name", "客户名称", "客户", "客户名", "所属客户"},
    ("owners", "name"): {"customer_name", "company", "company_name", "account_name", "客户名称", "公司名称"},
}


def _synonyms(table: str, field: str) -> list[str]:
    seen: dict[str, None] = {}
    excluded = {normalise_header(x) for x in _EXCLUDE.get((table, field), set())}
    for name in (field, *_BY_TABLE.get(table, {}).get(field, ()), *_GENERIC.get(field, ())):
        norm = normalise_header(name)
        if norm not in excluded:
            seen.setdefault(norm)
    return list(seen)


SYNONYMS: dict[str, dict[str, list[str]]] = {
    name: {f: _synonyms(name, f) for f in target_fields(name)} for name in TABLES
}


class Mapping(BaseModel):
    """How a file's columns feed the canonical fields of one import kind."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    format: Literal["csv", "tsv", "whitespace", "xlsx", "parquet", "jsonl"] | None = None
    header: bool = True
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    day_first: bool | None = None
    columns: dict[str, str | int] = Field(default_factory=dict)
    constants: dict[str, str] = Field(default_factory=dict)
    generate_id: list[str] | None = None
    automatic: bool = Field(False, exclude=True)

    def to_yaml(self) -> str:
        data = self.model_dump(exclude_none=True, exclude_defaults=True)
        data.pop("automatic", None)
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def auto_mapping(kind: str, headers: list[str]) -> Mapping:
    """Map headers to canonical fields by synonyms (the best-ranked synonym wins; each header is used once)."""
    spec = table_for_kind(kind)
    normalised = [normalise_header(h) for h in headers]
    used: set[int] = set()
    columns: dict[str, str | int] = {}
    # Key and required fields choose first, so that e.g. 'Account_Name' becomes the customer of an order.
    fields = target_fields(kind)
    order = sorted(fields, key=lambda f: (f not in spec.key, f not in spec.required, f != "customer_id"))
    candidates: list[tuple[int, int, str, int]] = []  # (field rank, synonym rank, field, header index)
    for field_rank, field in enumerate(order):
        for syn_rank, syn in enumerate(SYNONYMS[spec.name][field]):
            for idx, norm in enumerate(normalised):
                if norm == syn:
                    candidates.append((syn_rank, field_rank, field, idx))
    # Exact canonical names first, then by synonym rank, then by field priority.
    for _syn_rank, _field_rank, field, idx in sorted(candidates):
        if field in columns or idx in used:
            continue
        columns[field] = headers[idx]
        used.add(idx)
    ordered = {f: columns[f] for f in fields if f in columns}
    return Mapping(kind=kind, columns=ordered, automatic=True)


def load_mapping(path: str | Path) -> Mapping:
    """Read and check the structure of a YAML mapping file (every problem listed at once)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputFileError(f"mapping file {path} not found", "check the --mapping path") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), [ConfigIssue("", "a mapping file is a YAML mapping with a 'columns' key")])
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        issues = [ConfigIssue(".".join(str(p) for p in e["loc"]), e["msg"],
                              _key_hint(e["loc"]) if e["type"] == "extra_forbidden" else None)
                  for e in exc.errors()]
        raise ConfigError(str(path), issues) from exc


def _key_hint(loc: tuple[Any, ...]) -> str | None:
    close = suggest(str(loc[-1]), list(Mapping.model_fields))
    return f"did you mean {close!r}?" if close else None


def validate_mapping(mapping: Mapping, kind: str, headers: list[str], source: str = "mapping") -> dict[str, int]:
    """Check a mapping against a kind and a file's headers; returns field -> column index.

    Every problem (unknown field, unknown column, position out of range) is listed in one :class:`ConfigError`.
    """
    spec = table_for_kind(kind)
    fields = target_fields(kind)
    issues: list[ConfigIssue] = []
    if mapping.kind and table_for_kind(mapping.kind).name != spec.name:
        issues.append(ConfigIssue("kind", f"the mapping is for {mapping.kind!r}, the import for {kind!r}"))
    resolved: dict[str, int] = {}
    for field, source_col in mapping.columns.items():
        path = f"columns.{field}"
        if field not in fields:
            close = suggest(field, fields)
            issues.append(ConfigIssue(path, f"{field!r} is not a field of {spec.name}",
                                      f"did you mean {close!r}?" if close else f"fields: {', '.join(fields)}"))
            continue
        if isinstance(source_col, int) or (isinstance(source_col, str) and source_col.isdigit()
                                          and source_col not in headers):
            pos = int(source_col)
            if not 1 <= pos <= len(headers):
                issues.append(ConfigIssue(path, f"column position {pos} is outside 1..{len(headers)}"))
                continue
            resolved[field] = pos - 1
        elif source_col in headers:
            resolved[field] = headers.index(source_col)
        else:
            norm = {normalise_header(h): i for i, h in enumerate(headers)}
            if normalise_header(source_col) in norm:
                resolved[field] = norm[normalise_header(source_col)]
                continue
            close = suggest(source_col, headers)
            issues.append(ConfigIssue(path, f"the file has no column {source_col!r}",
                                      f"did you mean {close!r}?" if close else
                                      f"columns: {', '.join(headers[:30])}"))
    for field in mapping.constants:
        if field not in fields:
            issues.append(ConfigIssue(f"constants.{field}", f"{field!r} is not a field of {spec.name}",
                                      (lambda c: f"did you mean {c!r}?" if c else None)(suggest(field, fields))))
    for i, field in enumerate(mapping.generate_id or []):
        if field not in fields:
            issues.append(ConfigIssue(f"generate_id[{i}]", f"{field!r} is not a field of {spec.name}"))
    if issues:
        raise ConfigError(source, issues)
    return resolved


def save_mapping(mapping: Mapping, path: str | Path) -> Path:
    """Write a mapping as a YAML file that :func:`load_mapping` reads back."""
    path = Path(path)
    path.write_text("# crmscore column mapping; edit and pass with --mapping\n" + mapping.to_yaml(),
                    encoding="utf-8")
    return path
