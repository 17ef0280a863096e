// zh-CN and English: texts, and numbers, money and dates formatted per locale with Intl.

export const LOCALES = ["en", "zh-CN"];
const STORE_KEY = "crmscore.locale";

const EN = {
  "nav.overview": "Overview", "nav.customers": "Customers", "nav.segments": "Segments",
  "nav.scorecard": "Scorecard", "nav.imports": "Imports", "nav.admin": "Admin",
  "auth.title": "Sign in to crmscore", "auth.username": "Username", "auth.password": "Password",
  "auth.login": "Sign in", "auth.logout": "Sign out", "auth.failed": "Sign-in failed",
  "common.loading": "Loading…", "common.none": "—", "common.search": "Search", "common.all": "All",
  "common.apply": "Apply", "common.reset": "Reset", "common.export": "Export", "common.prev": "Previous",
  "common.next": "Next", "common.page": "Rows {from}–{to} of {total}", "common.save": "Save",
  "common.cancel": "Cancel", "common.error": "Error", "common.hint": "Hint", "common.snapshot": "Snapshot",
  "common.as_of": "as of {date}", "common.no_data": "No data yet", "common.not_available":
    "This feature needs a server route that is not available yet ({route}).",
  "common.count": "Customers", "common.value": "Value", "common.status": "Status", "common.created": "Created",
  "common.yes": "yes", "common.no": "no", "common.actions": "Actions", "common.details": "Details",
  "overview.title": "Overview", "overview.no_snapshot": "No scoring snapshot yet. Import data and run scoring.",
  "kpi.customers": "Customers", "kpi.active": "Active", "kpi.churn_rate": "Churn rate", "kpi.revenue": "Revenue",
  "kpi.revenue_365d": "Revenue (12 months)", "kpi.avg_score": "Average score", "kpi.csat": "Average CSAT",
  "kpi.nps": "NPS", "kpi.clv": "Total CLV", "kpi.at_risk": "At risk or churned",
  "kpi.vs_prev": "{change} vs previous", "kpi.no_prev": "no previous snapshot",
  "chart.grades": "Grade distribution", "chart.segments": "RFM segment map", "chart.pareto": "ABC Pareto curve",
  "chart.funnel": "Lifecycle funnel", "chart.trend": "Trends over snapshots", "chart.abc": "ABC classes",
  "chart.cum_share": "Cumulative share of value", "chart.customers_share": "Share of customers",
  "chart.avg_score": "Average score", "chart.history": "Score history", "chart.dimensions": "Score by dimension",
  "chart.value_by_segment": "Value per segment", "chart.size_by_segment": "Customers per segment",
  "chart.migration": "Migration", "chart.total_clv": "Total CLV",
  "customers.title": "Customers", "customers.search": "Search by name…", "customers.filters": "Filters",
  "customers.export_csv": "Export CSV", "customers.export_xlsx": "Export Excel", "customers.empty": "No customers match.",
  "customers.risk_min": "Risk ≥", "customers.risk_max": "Risk ≤", "customers.owner": "Owner",
  "customers.department": "Department",
  "col.customer_id": "ID", "col.name": "Name", "col.grade": "Grade", "col.score": "Score",
  "col.rfm_segment": "RFM segment", "col.lifecycle_stage": "Lifecycle", "col.abc_class": "ABC",
  "col.value_tier": "Value tier", "col.owner_name": "Owner", "col.department": "Department",
  "col.clv": "CLV", "col.churn_risk": "Churn risk", "col.p_alive": "P(alive)", "col.monetary": "Revenue",
  "col.recency_days": "Days since purchase", "col.industry": "Industry", "col.region": "Region",
  "col.type": "Type", "col.phone": "Phone", "col.email": "E-mail", "col.contact_name": "Contact",
  "col.created_on": "Customer since", "col.owner_id": "Owner ID", "col.size": "Size", "col.employees": "Employees",
  "col.country": "Country", "col.owner_department": "Owner's department",
  "filter.grade": "Grade", "filter.segment": "Segment", "filter.lifecycle": "Lifecycle", "filter.abc": "ABC",
  "customer.profile": "Profile", "customer.score": "Score", "customer.explanation": "Why this score",
  "customer.criterion": "Criterion", "customer.points": "Points", "customer.of": "of",
  "customer.dimension": "Dimension", "customer.value": "Value", "customer.history": "Score history",
  "customer.orders": "Orders", "customer.payments": "Invoices and payments", "customer.surveys": "Surveys",
  "customer.tickets": "Tickets", "customer.interactions": "Interactions", "customer.opportunities": "Opportunities",
  "customer.clv_risk": "Value and churn risk", "customer.reasons": "Risk reasons",
  "customer.next_steps": "Recommended next steps", "customer.back": "← Customers",
  "customer.not_found": "Customer not found (or outside your scope).",
  "customer.weakest": "Weakest criteria", "customer.expected_spend": "Expected spend (12 months)",
  "customer.expected_purchases": "Expected purchases (12 months)", "customer.total": "{count} in total",
  "segments.title": "Segments", "segments.by": "Group by", "segments.from": "From", "segments.to": "To",
  "segments.matrix": "Migration matrix (rows: from, columns: to)", "segments.movers": "Biggest movers",
  "segments.need_two": "Migration needs at least two snapshots.", "segments.alerts": "Alerts",
  "by.grade": "Grade", "by.rfm_segment": "RFM segment", "by.lifecycle_stage": "Lifecycle", "by.abc_class": "ABC class",
  "by.value_tier": "Value tier",
  "scorecard.title": "Scorecard", "scorecard.versions": "Versions", "scorecard.editor": "Edit scorecard",
  "scorecard.dimension": "Dimension", "scorecard.criterion": "Criterion", "scorecard.weight": "Weight",
  "scorecard.metric": "Metric", "scorecard.method": "Method", "scorecard.validate": "Validate",
  "scorecard.preview": "Preview on current data", "scorecard.publish": "Publish", "scorecard.valid": "The scorecard is valid.",
  "scorecard.yaml": "YAML", "scorecard.form": "Weights", "scorecard.published": "Published version {version}.",
  "scorecard.readonly": "You may view scorecards; publishing needs the configure-scoring permission.",
  "scorecard.preview_title": "Effect on current data", "scorecard.grade_now": "Now", "scorecard.grade_after": "After",
  "scorecard.changed": "Customers whose grade changes", "scorecard.run": "Run scoring now",
  "scorecard.add_criterion": "Add criterion", "scorecard.remove": "Remove", "scorecard.name": "Name",
  "scorecard.problems": "{count} problem(s)", "scorecard.mean_score": "Average score",
  "imports.title": "Imports", "imports.kind": "What the file contains", "imports.file": "File",
  "imports.analyse": "Read the file", "imports.mapping": "Column mapping", "imports.source": "File column",
  "imports.target": "Canonical field", "imports.unmapped": "(not imported)", "imports.run": "Import",
  "imports.dry_run": "Check only (dry run)", "imports.partial": "Load valid rows, quarantine the rest",
  "imports.report": "Validation report", "imports.read": "Read", "imports.inserted": "Inserted",
  "imports.updated": "Updated", "imports.unchanged": "Unchanged", "imports.rejected": "Rejected",
  "imports.line": "Line", "imports.column": "Column", "imports.value": "Value", "imports.reason": "Reason",
  "imports.quarantine": "Download quarantined rows", "imports.jobs": "Recent jobs", "imports.preview": "Preview",
  "imports.score": "Run scoring", "imports.scoring_started": "Scoring started (job {id}).",
  "imports.scoring_done": "Scoring finished: snapshot {id}.", "imports.job_failed": "Job failed: {error}",
  "imports.required": "required",
  "admin.title": "Administration", "admin.users": "Users", "admin.audit": "Audit log", "admin.roles": "Roles and permissions",
  "admin.new_user": "New user", "admin.create": "Create", "admin.disable": "Disable", "admin.enable": "Enable",
  "admin.role": "Role", "admin.scope": "Scope", "admin.owner_id": "Owner ID", "admin.department": "Department",
  "admin.configure": "Configure scoring", "admin.personal": "Personal data", "admin.disabled": "Disabled",
  "admin.when": "When", "admin.who": "Who", "admin.action": "Action", "admin.target": "Target", "admin.from": "From",
  "admin.created": "User {name} created.",
  "job.queued": "queued", "job.running": "running", "job.succeeded": "succeeded", "job.failed": "failed",
};

const ZH = {
  "nav.overview": "概览", "nav.customers": "客户", "nav.segments": "客户分群", "nav.scorecard": "评分卡",
  "nav.imports": "数据导入", "nav.admin": "系统管理",
  "auth.title": "登录 crmscore", "auth.username": "用户名", "auth.password": "密码", "auth.login": "登录",
  "auth.logout": "退出登录", "auth.failed": "登录失败",
  "common.loading": "加载中…", "common.none": "—", "common.search": "搜索", "common.all": "全部",
  "common.apply": "应用", "common.reset": "重置", "common.export": "导出", "common.prev": "上一页",
  "common.next": "下一页", "common.page": "第 {from}–{to} 条，共 {total} 条", "common.save": "保存",
  "common.cancel": "取消", "common.error": "错误", "common.hint": "提示", "common.snapshot": "快照",
  "common.as_of": "截至 {date}", "common.no_data": "暂无数据",
  "common.not_available": "此功能需要的服务器接口尚不可用（{route}）。",
  "common.count": "客户数", "common.value": "价值", "common.status": "状态", "common.created": "创建时间",
  "common.yes": "是", "common.no": "否", "common.actions": "操作", "common.details": "详情",
  "overview.title": "概览", "overview.no_snapshot": "尚无评分快照。请先导入数据并运行评分。",
  "kpi.customers": "客户数", "kpi.active": "活跃客户", "kpi.churn_rate": "流失率", "kpi.revenue": "销售额",
  "kpi.revenue_365d": "近12个月销售额", "kpi.avg_score": "平均得分", "kpi.csat": "平均满意度", "kpi.nps": "净推荐值 NPS",
  "kpi.clv": "客户终身价值合计", "kpi.at_risk": "有流失风险或已流失",
  "kpi.vs_prev": "较上期 {change}", "kpi.no_prev": "无上期快照",
  "chart.grades": "等级分布", "chart.segments": "RFM 分群图", "chart.pareto": "ABC 帕累托曲线",
  "chart.funnel": "生命周期漏斗", "chart.trend": "历次快照趋势", "chart.abc": "ABC 分类",
  "chart.cum_share": "累计价值占比", "chart.customers_share": "客户占比", "chart.avg_score": "平均得分",
  "chart.history": "得分历史", "chart.dimensions": "各维度得分", "chart.value_by_segment": "各分群价值",
  "chart.size_by_segment": "各分群客户数", "chart.migration": "迁移", "chart.total_clv": "终身价值合计",
  "customers.title": "客户", "customers.search": "按名称搜索…", "customers.filters": "筛选",
  "customers.export_csv": "导出 CSV", "customers.export_xlsx": "导出 Excel", "customers.empty": "没有符合条件的客户。",
  "customers.risk_min": "风险 ≥", "customers.risk_max": "风险 ≤", "customers.owner": "负责人",
  "customers.department": "部门",
  "col.customer_id": "编号", "col.name": "名称", "col.grade": "等级", "col.score": "得分",
  "col.rfm_segment": "RFM 分群", "col.lifecycle_stage": "生命周期", "col.abc_class": "ABC",
  "col.value_tier": "价值层级", "col.owner_name": "负责人", "col.department": "部门", "col.clv": "终身价值",
  "col.churn_risk": "流失风险", "col.p_alive": "存活概率", "col.monetary": "销售额", "col.recency_days": "距上次购买天数",
  "col.industry": "行业", "col.region": "地区", "col.type": "类型", "col.phone": "电话", "col.email": "邮箱",
  "col.contact_name": "联系人", "col.created_on": "建档日期", "col.owner_id": "负责人编号", "col.size": "规模",
  "col.employees": "员工人数", "col.country": "国家/地区", "col.owner_department": "负责人部门",
  "filter.grade": "等级", "filter.segment": "分群", "filter.lifecycle": "生命周期", "filter.abc": "ABC",
  "customer.profile": "客户档案", "customer.score": "得分", "customer.explanation": "得分说明",
  "customer.criterion": "指标", "customer.points": "得分", "customer.of": "/", "customer.dimension": "维度",
  "customer.value": "取值", "customer.history": "得分历史", "customer.orders": "订单",
  "customer.payments": "发票与回款", "customer.surveys": "满意度调查", "customer.tickets": "服务工单",
  "customer.interactions": "互动记录", "customer.opportunities": "商机", "customer.clv_risk": "价值与流失风险",
  "customer.reasons": "风险原因", "customer.next_steps": "建议的下一步", "customer.back": "← 客户列表",
  "customer.not_found": "未找到该客户（或不在您的数据范围内）。", "customer.weakest": "最弱指标",
  "customer.expected_spend": "预计消费（12个月）", "customer.expected_purchases": "预计购买次数（12个月）",
  "customer.total": "共 {count} 条",
  "segments.title": "客户分群", "segments.by": "分组依据", "segments.from": "起始快照", "segments.to": "结束快照",
  "segments.matrix": "迁移矩阵（行：起始，列：结束）", "segments.movers": "变化最大的客户",
  "segments.need_two": "迁移分析至少需要两个快照。", "segments.alerts": "预警",
  "by.grade": "等级", "by.rfm_segment": "RFM 分群", "by.lifecycle_stage": "生命周期", "by.abc_class": "ABC 分类",
  "by.value_tier": "价值层级",
  "scorecard.title": "评分卡", "scorecard.versions": "版本", "scorecard.editor": "编辑评分卡",
  "scorecard.dimension": "维度", "scorecard.criterion": "指标", "scorecard.weight": "权重", "scorecard.metric": "度量",
  "scorecard.method": "计分方法", "scorecard.validate": "校验", "scorecard.preview": "在当前数据上预览",
  "scorecard.publish": "发布", "scorecard.valid": "评分卡有效。", "scorecard.yaml": "YAML", "scorecard.form": "权重",
  "scorecard.published": "已发布版本 {version}。",
  "scorecard.readonly": "您可以查看评分卡；发布需要“配置评分”权限。",
  "scorecard.preview_title": "对当前数据的影响", "scorecard.grade_now": "当前", "scorecard.grade_after": "调整后",
  "scorecard.changed": "等级发生变化的客户", "scorecard.run": "立即运行评分", "scorecard.add_criterion": "添加指标",
  "scorecard.remove": "删除", "scorecard.name": "名称", "scorecard.problems": "{count} 个问题",
  "scorecard.mean_score": "平均得分",
  "imports.title": "数据导入", "imports.kind": "文件内容", "imports.file": "文件", "imports.analyse": "读取文件",
  "imports.mapping": "字段映射", "imports.source": "文件列", "imports.target": "标准字段", "imports.unmapped": "（不导入）",
  "imports.run": "导入", "imports.dry_run": "仅检查（试运行）", "imports.partial": "导入有效行，隔离其余行",
  "imports.report": "校验报告", "imports.read": "读取", "imports.inserted": "新增", "imports.updated": "更新",
  "imports.unchanged": "未变", "imports.rejected": "拒绝", "imports.line": "行号", "imports.column": "列",
  "imports.value": "值", "imports.reason": "原因", "imports.quarantine": "下载隔离行", "imports.jobs": "最近任务",
  "imports.preview": "预览", "imports.score": "运行评分", "imports.scoring_started": "评分已开始（任务 {id}）。",
  "imports.scoring_done": "评分完成：快照 {id}。", "imports.job_failed": "任务失败：{error}", "imports.required": "必填",
  "admin.title": "系统管理", "admin.users": "用户", "admin.audit": "审计日志", "admin.roles": "角色与权限",
  "admin.new_user": "新建用户", "admin.create": "创建", "admin.disable": "停用", "admin.enable": "启用",
  "admin.role": "角色", "admin.scope": "数据范围", "admin.owner_id": "负责人编号", "admin.department": "部门",
  "admin.configure": "配置评分", "admin.personal": "个人信息", "admin.disabled": "已停用", "admin.when": "时间",
  "admin.who": "用户", "admin.action": "操作", "admin.target": "对象", "admin.from": "来源",
  "admin.created": "已创建用户 {name}。",
  "job.queued": "排队中", "job.running": "运行中", "job.succeeded": "成功", "job.failed": "失败",
};

// Class labels (data values) shown in the user's language; unknown values are shown as they are.
const CLASS_ZH = {
  "Champions": "重要价值客户", "Loyal": "忠诚客户", "Loyal Customers": "忠诚客户",
  "Potential Loyalists": "潜在忠诚客户", "Potential Loyalist": "潜在忠诚客户", "New Customers": "新客户",
  "Recent Customers": "新近客户", "Promising": "有潜力客户", "Need Attention": "需要关注", "About To Sleep": "即将沉睡",
  "At Risk": "有流失风险", "Cannot Lose Them": "不能失去的客户", "Can't Lose Them": "不能失去的客户",
  "Hibernating": "沉睡客户", "Lost": "已流失", "New": "新客户", "Others": "其他",
  "champions": "重要价值客户", "loyal": "忠诚客户", "potential_loyalist": "潜在忠诚客户", "new_customers": "新客户",
  "promising": "有潜力客户", "need_attention": "需要关注", "about_to_sleep": "即将沉睡", "cant_lose": "不能失去的客户",
  "hibernating": "沉睡客户", "lost": "已流失", "no_purchase": "未购买", "reactivated": "重新激活",
  "grade_down_2": "等级下降两级及以上", "newly_at_risk": "新近出现流失风险", "new_champion": "新晋重要价值客户",
  "completed": "已完成", "cancelled": "已取消", "returned": "已退货", "online": "线上", "mobile_app": "移动应用",
  "store": "门店", "sales_rep": "销售代表", "partner": "合作伙伴", "visit": "访问", "email_open": "打开邮件",
  "email_click": "点击邮件", "call": "电话", "meeting": "会面", "chat": "在线沟通", "event": "活动",
  "product": "产品", "service": "服务", "response": "响应", "after_sales": "售后", "critical": "紧急",
  "prospect": "潜在客户", "new": "新客户", "repeat": "复购客户", "loyal": "忠诚客户", "at_risk": "有流失风险",
  "churned": "已流失", "high": "高", "mid": "中", "medium": "中", "low": "低", "top": "顶级",
  "admin": "管理员", "manager": "经理", "analyst": "分析师", "rep": "销售",
  "self": "本人", "department": "本部门", "department_tree": "本部门及下级", "company": "全公司",
  "behaviour": "行为", "basic": "基本信息", "needs": "需求", "satisfaction": "满意度", "loyalty": "忠诚度",
  "financial": "财务状况", "B2B": "企业客户", "B2C": "个人客户",
};

const DICTS = { "en": EN, "zh-CN": ZH };
let current = localStorage.getItem(STORE_KEY) || (navigator.language.startsWith("zh") ? "zh-CN" : "en");
if (!LOCALES.includes(current)) current = "en";

export function locale() { return current; }

export function setLocale(value) {
  current = LOCALES.includes(value) ? value : "en";
  localStorage.setItem(STORE_KEY, current);
  document.documentElement.lang = current;
}

export function t(key, vars = {}) {
  const text = DICTS[current][key] ?? EN[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function label(value) {
  if (value === null || value === undefined) return t("common.none");
  return current === "zh-CN" ? (CLASS_ZH[value] ?? String(value)) : String(value).replace(/_/g, " ");
}

// The currency of the money columns: the server's default currency (set on login), CNY otherwise.
let currency = "CNY";
export function setCurrency(code) { if (code) currency = code; }

const isNum = (v) => typeof v === "number" && Number.isFinite(v);

export const fmt = {
  number(v, digits = 0) {
    if (!isNum(v)) return t("common.none");
    return new Intl.NumberFormat(current, { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(v);
  },
  decimal(v, digits = 1) {
    if (!isNum(v)) return t("common.none");
    return new Intl.NumberFormat(current, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(v);
  },
  money(v, compact = false) {
    if (!isNum(v)) return t("common.none");
    return new Intl.NumberFormat(current, { style: "currency", currency, notation: compact ? "compact" : "standard",
      maximumFractionDigits: compact ? 1 : 2 }).format(v);
  },
  percent(v, digits = 1) {
    if (!isNum(v)) return t("common.none");
    return new Intl.NumberFormat(current, { style: "percent", maximumFractionDigits: digits }).format(v);
  },
  signedPercent(v) {
    if (!isNum(v)) return t("common.none");
    return new Intl.NumberFormat(current, { style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" }).format(v);
  },
  signed(v, digits = 1) {
    if (!isNum(v)) return t("common.none");
    return new Intl.NumberFormat(current, { maximumFractionDigits: digits, signDisplay: "exceptZero" }).format(v);
  },
  date(v) {
    if (!v) return t("common.none");
    const d = new Date(String(v).length === 10 ? v + "T00:00:00" : v);
    if (Number.isNaN(d.getTime())) return String(v);
    return new Intl.DateTimeFormat(current, { year: "numeric", month: "short", day: "numeric" }).format(d);
  },
  datetime(v) {
    if (!v) return t("common.none");
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) return String(v);
    return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(d);
  },
};
