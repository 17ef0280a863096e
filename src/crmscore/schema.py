"""The canonical data model: the contract every importer produces and the engine reads.

Each table is declared as data (:class:`TableSpec`): columns with a logical type, which are required, the
natural key used for idempotent upserts, and references to other tables. Money is ``decimal`` (DECIMAL(18, 2)
in every warehouse), never a float.

Order semantics (used by every purchase metric):
- ``status`` is ``completed``, ``cancelled`` or ``returned``.
- ``amount`` is signed. A sale is a ``completed`` order with ``amount > 0``. A reversal document (a credit
  note, a return, an Online-Retail ``C`` invoice) has ``amount < 0`` and is subtracted from net monetary
  value whatever its status. A positive ``cancelled`` order never happened and counts for nothing.

>>> TABLES["orders"].key
('order_id',)
>>> [c.name for c in TABLES["owners"].columns]
['owner_id', 'name', 'department', 'email']
>>> table_for_kind("order-lines").name
'order_lines'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from crmscore.errors import UnknownName

__all__ = [
    "KINDS",
    "LOGICAL_TYPES",
    "MONEY_PRECISION",
    "MONEY_SCALE",
    "TABLES",
    "Column",
    "TableSpec",
    "ibis_schema",
    "table_for_kind",
]

LogicalType = Literal["string", "integer", "float", "decimal", "date", "timestamp", "boolean"]
LOGICAL_TYPES: tuple[str, ...] = ("string", "integer", "float", "decimal", "date", "timestamp", "boolean")
MONEY_PRECISION, MONEY_SCALE = 18, 2


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    required: bool = False
    description: str = ""
    label_zh: str = ""
    # Allowed values for enumerations (after normalisation), or a (min, max) range for numbers.
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: dict[str, str] = field(default_factory=dict)  # column -> referenced table (by its key)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise UnknownName(f"column of {self.name}", name, [c.name for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _c(name: str, type_: LogicalType, required: bool = False, zh: str = "", desc: str = "", **kw: object) -> Column:
    return Column(name, type_, required, desc, zh, **kw)  # type: ignore[arg-type]


ORDER_STATUSES = ("completed", "cancelled", "returned")
CUSTOMER_TYPES = ("B2B", "B2C")
INTERACTION_TYPES = ("visit", "email_sent", "email_open", "email_click", "call", "meeting", "chat", "event", "other")
SURVEY_DIMENSIONS = ("product", "service", "response", "after_sales", "overall")

_TABLE_LIST = [
    TableSpec("owners", "Sales reps and other account owners, with their department path (e.g. 'Sales/East').",
              (_c("owner_id", "string", True, "负责人编号"), _c("name", "string", zh="负责人"),
               _c("department", "string", zh="所属部门",
                  desc="Department path; '/' separates levels so that 'Sales/East' is below 'Sales'."),
               _c("email", "string", zh="邮箱")),
              ("owner_id",)),
    TableSpec("customers", "The customer master: one row per customer (account).",
              (_c("customer_id", "string", True, "客户编号"), _c("name", "string", zh="客户名称"),
               _c("type", "string", zh="客户类型", choices=CUSTOMER_TYPES),
               _c("industry", "string", zh="行业"), _c("employees", "integer", zh="员工人数", min_value=0),
               _c("size", "string", zh="企业规模", desc="Size band: micro, small, medium, large, enterprise."),
               _c("annual_revenue", "decimal", zh="年营业额", min_value=0),
               _c("region", "string", zh="地区"), _c("country", "string", zh="国家"),
               _c("owner_id", "string", zh="负责人"), _c("department", "string", zh="所属部门"),
               _c("created_on", "date", zh="创建日期"), _c("birthday", "date", zh="生日"),
               _c("contact_name", "string", zh="联系人"), _c("phone", "string", zh="电话"),
               _c("email", "string", zh="邮箱"), _c("credit_limit", "decimal", zh="信用额度", min_value=0),
               _c("is_stub", "boolean", desc="Created automatically for an order that named an unknown customer.")),
              ("customer_id",), {"owner_id": "owners"}),
    TableSpec("products", "Products and services sold.",
              (_c("product_id", "string", True, "产品编号"), _c("name", "string", zh="产品名称"),
               _c("category", "string", zh="产品类别"), _c("unit_price", "decimal", zh="单价"),
               _c("unit_cost", "decimal", zh="单位成本")),
              ("product_id",)),
    TableSpec("orders", "Orders (sales documents). See the module docstring for amount and status semantics.",
              (_c("order_id", "string", True, "订单号"), _c("customer_id", "string", True, "客户编号"),
               _c("order_date", "timestamp", True, "下单日期"), _c("amount", "decimal", True, "订单金额"),
               _c("cost", "decimal", zh="成本"), _c("currency", "string", zh="币种"),
               _c("status", "string", zh="订单状态", choices=ORDER_STATUSES), _c("channel", "string", zh="渠道")),
              ("order_id",), {"customer_id": "customers"}),
    TableSpec("order_lines", "Order lines (one row per product on an order); loading them also derives orders.",
              (_c("order_id", "string", True, "订单号"), _c("line_no", "integer", True, "行号"),
               _c("product_id", "string", zh="产品编号"), _c("description", "string", zh="产品描述"),
               _c("quantity", "decimal", True, "数量"), _c("unit_price", "decimal", True, "单价"),
               _c("amount", "decimal", zh="金额", desc="quantity x unit_price"),
               _c("unit_cost", "decimal", zh="单位成本")),
              ("order_id", "line_no"), {"order_id": "orders", "product_id": "products"}),
    TableSpec("interactions", "Web visits, e-mails, calls, meetings and other touch points.",
              (_c("interaction_id", "string", True, "互动编号"), _c("customer_id", "string", True, "客户编号"),
               _c("occurred_at", "timestamp", True, "时间"), _c("type", "string", True, "类型",
                                                              choices=INTERACTION_TYPES),
               _c("duration_seconds", "float", zh="停留时长(秒)", min_value=0), _c("pages", "integer", zh="页面数",
                                                                                min_value=0),
               _c("channel", "string", zh="渠道")),
              ("interaction_id",), {"customer_id": "customers"}),
    TableSpec("invoices", "Invoices and their payment: issue and due dates, paid date and amount, disputes.",
              (_c("invoice_id", "string", True, "发票号"), _c("customer_id", "string", True, "客户编号"),
               _c("issued_on", "date", True, "开票日期"), _c("due_on", "date", True, "到期日"),
               _c("amount", "decimal", True, "发票金额"), _c("paid_on", "date", zh="付款日期"),
               _c("paid_amount", "decimal", zh="已付金额"), _c("disputed", "boolean", zh="是否争议"),
               _c("currency", "string", zh="币种")),
              ("invoice_id",), {"customer_id": "customers"}),
    TableSpec("surveys", "Survey answers: one row per customer, date and dimension; scores keep their scale.",
              (_c("survey_id", "string", True, "问卷编号"), _c("customer_id", "string", True, "客户编号"),
               _c("answered_on", "date", True, "日期"), _c("dimension", "string", True, "维度",
                                                          choices=SURVEY_DIMENSIONS),
               _c("score", "float", zh="评分"), _c("scale_min", "float", zh="最低分"),
               _c("scale_max", "float", zh="最高分"),
               _c("would_recommend", "integer", zh="推荐意愿(0-10)", min_value=0, max_value=10)),
              ("survey_id", "dimension"), {"customer_id": "customers"}),
    TableSpec("tickets", "Support tickets and complaints.",
              (_c("ticket_id", "string", True, "工单号"), _c("customer_id", "string", True, "客户编号"),
               _c("opened_at", "timestamp", True, "创建时间"), _c("closed_at", "timestamp", zh="关闭时间"),
               _c("category", "string", zh="类别"), _c("severity", "string", zh="严重程度"),
               _c("is_complaint", "boolean", zh="是否投诉")),
              ("ticket_id",), {"customer_id": "customers"}),
    TableSpec("opportunities", "Sales opportunities with the customer's needs: urgency and fit (1-5).",
              (_c("opportunity_id", "string", True, "商机编号"), _c("customer_id", "string", True, "客户编号"),
               _c("created_on", "date", True, "创建日期"), _c("stage", "string", zh="阶段"),
               _c("value", "decimal", zh="金额"), _c("urgency", "integer", zh="紧迫度", min_value=1, max_value=5),
               _c("fit", "integer", zh="匹配度", min_value=1, max_value=5),
               _c("expected_close_on", "date", zh="预计成交日期")),
              ("opportunity_id",), {"customer_id": "customers"}),
]

TABLES: dict[str, TableSpec] = {t.name: t for t in _TABLE_LIST}
# Import kinds as typed on the command line: table names with '-' ('order-lines'); 'payments' is an alias.
KINDS: dict[str, str] = {name.replace("_", "-"): name for name in TABLES} | {"payments": "invoices"}


def table_for_kind(kind: str) -> TableSpec:
    """The table spec for an import kind (``order-lines``, ``orders``, ``customers`` ...)."""
    name = KINDS.get(kind) or KINDS.get(kind.replace("_", "-"))
    if name is None:
        raise UnknownName("import kind", kind, KINDS)
    return TABLES[name]


def ibis_schema(spec: TableSpec) -> dict[str, str]:
    """Ibis type strings for a table (money as DECIMAL(18, 2))."""
    mapping = {"string": "string", "integer": "int64", "float": "float64",
               "decimal": f"decimal({MONEY_PRECISION}, {MONEY_SCALE})", "date": "date",
               "timestamp": "timestamp", "boolean": "boolean"}
    return {c.name: mapping[c.type] for c in spec.columns}
