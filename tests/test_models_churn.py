"""Churn early warning: labels, backtest frames, the supervised model, its fallback, reasons, evaluation, lists."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmscore import synth
from crmscore.datasets import cdnow_orders
from crmscore.engine.frames import to_frame
from crmscore.errors import DataError, NotFittedError, UnknownName
from crmscore.models.churn import ChurnModel, backtest_frames, churn_labels, sales_frame, simple_features
from crmscore.models.evaluation import calibration_table, evaluate_churn, lift_at, score_report
from crmscore.models.lists import early_warning_list, export_list, winback_list


@pytest.fixture(scope="module")
def synthetic() -> dict[str, object]:
    return dict(synth.generate(2500, seed=11))


def test_sales_read_from_the_warehouse_equal_the_frame() -> None:
    import ibis

    orders = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c"], "order_date": pd.to_datetime(["2024-01-01", "2024-01-02",
                                                                             "2024-01-03", "2024-01-04"]),
        "amount": [10.07, -4.0, 0.1, 123456789.99], "status": ["completed", "completed", None, "cancelled"],
        "channel": ["web"] * 4})
    con = ibis.duckdb.connect()
    # money as DECIMAL(18, 2), as in the warehouse: the database's cast to float equals Python's Decimal -> float
    table = con.create_table("orders", ibis.memtable(orders).mutate(
        amount=ibis._.amount.cast("decimal(18, 2)")))
    read_whole = to_frame(table)  # every column, the amounts as Decimal objects
    assert type(read_whole["amount"].iloc[0]).__name__ == "Decimal"
    from_table = sales_frame({"orders": table})
    pd.testing.assert_frame_equal(from_table, sales_frame(read_whole))
    assert from_table["amount"].tolist() == [10.07, 0.1]


def test_labels_follow_the_sale_rule() -> None:
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "d"],
        "order_date": pd.to_datetime(["2024-01-01", "2024-02-10", "2024-01-02", "2024-02-01", "2024-01-03",
                                      "2024-02-01"]),
        "amount": [10.0, 5.0, 8.0, 9.0, 7.0, 3.0],
        "status": ["completed", "completed", "completed", "cancelled", "completed", "completed"]})
    sales = sales_frame(orders)
    labels = churn_labels(sales, "2024-01-31", 30)
    # a buys again on 02-10; b's February order was cancelled; c never returns; d is new after the origin
    assert labels.to_dict("list") == {"customer_id": ["a", "b", "c"], "churned": [0, 1, 1]}
    # the same frame asked again (its first sales are kept): later origins see d, earlier ones fewer customers
    assert churn_labels(sales, "2024-02-05", 30)["customer_id"].tolist() == ["a", "b", "c", "d"]
    assert churn_labels(sales, "2024-01-02", 30).to_dict("list") == {"customer_id": ["a", "b"], "churned": [1, 1]}
    longer = pd.concat([sales, pd.DataFrame({"customer_id": ["e"], "day": [pd.Timestamp("2023-12-01")],
                                             "amount": [1.0]})], ignore_index=True)
    assert churn_labels(longer, "2024-01-02", 30)["customer_id"].tolist() == ["a", "b", "e"]
    frames = backtest_frames(orders, ["2024-01-15", "2024-01-31"], 30, "simple")
    assert frames.groupby("origin").size().tolist() == [3, 3]
    assert {"recency_days", "purchase_days", "churned"} <= set(frames.columns)
    jan31 = frames[frames["origin"] == "2024-01-31"].set_index("customer_id")
    assert jan31.loc["a", "recency_days"] == 30 and jan31.loc["c", "recency_days"] == 28


def test_supervised_model_on_synthetic_data(synthetic: dict[str, object]) -> None:
    model = ChurnModel(features="engine").fit(synthetic, as_of=synth.DEFAULT_END)
    assert model.mode_ == "supervised" and model.notice_ is None
    assert len(model.origins_) == 4 and model.origins_[-1] == (pd.Timestamp(synth.DEFAULT_END)
                                                             - pd.Timedelta(days=90)).date()
    assert "recency_days" in model.feature_names_ and 1 <= model.n_rounds_ <= 300
    risk = model.predict(synthetic, as_of=synth.DEFAULT_END)
    assert risk["churn_risk"].between(0, 1).all()
    assert risk["customer_id"].is_unique
    # joined: each customer's non-empty reasons in one text per language (what a scoring run stores)
    joined = model.predict(synthetic, as_of=synth.DEFAULT_END, joined=("; ", "；"))
    assert joined["churn_risk"].equals(risk["churn_risk"])
    for column, ranks, sep in (("reasons", ["reason_1", "reason_2", "reason_3"], "; "),
                               ("reasons_zh", ["reason_1_zh", "reason_2_zh", "reason_3_zh"], "；")):
        expected = [sep.join(t for t in row if t) for row in risk[ranks].itertuples(index=False)]
        assert joined[column].tolist() == expected
    assert (risk["reason_3"] == "").any() and not (joined["reasons"] == "").all()
    # reasons: top 3 per customer, by positive impact, with labels in both languages
    frame = model.feature_frame(synthetic, synth.DEFAULT_END).head(200)
    reasons = model.explain(frame)
    assert set(reasons["rank"]) <= {1, 2, 3}
    assert (reasons["impact"] > 0).all()
    assert reasons.groupby("customer_id")["impact"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert set(reasons["direction"]) <= {"higher", "lower", "missing", "typical"}
    # the direction states how the value compares with the training median
    compared = reasons.dropna(subset=["value"])
    assert ((compared["direction"] == "higher") == (compared["value"] > compared["typical"])).all()
    assert ((compared["direction"] == "typical") == (compared["value"] == compared["typical"])).all()
    typical = compared[compared["direction"] == "typical"]
    assert len(typical) > 0  # 13 of the 598 reasons here (a value equal to the median read "lower than typical")
    assert typical["text_en"].str.contains(r"\(typical\): \+", regex=True).all()
    assert not compared["text_en"].str.contains("than typical").loc[compared["direction"] == "typical"].any()
    assert reasons["text_zh"].str.contains("风险").all() and reasons["text_en"].str.contains("risk").all()
    # every text equals the one formatted in full from its row (the model assembles them from parts)
    for r in reasons.itertuples():
        if r.direction == "missing":
            en, zh = f"{r.label_en} missing: +", f"{r.label_zh} 缺失: 风险 +"
        elif r.direction == "typical":
            en, zh = f"{r.label_en} {r.value:.4g} (typical): +", f"{r.label_zh} {r.value:.4g} (典型值): 风险 +"
        else:
            word = "低于" if r.direction == "lower" else "高于"
            en = f"{r.label_en} {r.value:.4g} ({r.direction} than typical {r.typical:.4g}): +"
            zh = f"{r.label_zh} {r.value:.4g} ({word}典型值 {r.typical:.4g}): 风险 +"
        assert (r.text_en, r.text_zh) == (f"{en}{r.impact:.0%} risk", f"{zh}{r.impact:.0%}")
    # the attributions split the model's own log-odds, and the impact is the risk drop without that share
    row = reasons.iloc[0]
    x = frame.set_index("customer_id").loc[[row["customer_id"]], model.feature_names_].to_numpy(dtype=float)
    j = model.feature_names_.index(row["feature"])
    contrib = model._path_contributions(x)
    raw = model._raw_risk(x)[0]
    assert contrib[0].sum() == pytest.approx(np.log(raw / (1 - raw)), abs=1e-4)
    without = 1 / (1 + np.exp(-(contrib[0].sum() - contrib[0, j])))
    assert raw - without == pytest.approx(row["impact"], abs=1e-5)


def test_short_history_falls_back_to_p_alive(caplog: pytest.LogCaptureFixture) -> None:
    orders = cdnow_orders()
    with caplog.at_level(logging.WARNING, logger="crmscore.models.churn"):
        model = ChurnModel(features="simple").fit(orders, as_of="1997-06-15")
    assert model.mode_ == "p_alive"
    assert model.notice_ and "falls back to 1 - P(alive)" in model.notice_
    assert any("falls back" in rec.message for rec in caplog.records)
    risk = model.predict(orders, as_of="1997-06-15")
    assert risk["churn_risk"].between(0, 1).all()
    assert (risk["reason_1"] == "fallback: 1 - P(alive) (BG/NBD)").all()
    joined = model.predict(orders, as_of="1997-06-15", joined=("; ", "；"))
    assert (joined["reasons"] == "fallback: 1 - P(alive) (BG/NBD)").all()
    assert (joined["reasons_zh"] == risk["reason_1_zh"]).all()
    with pytest.raises(DataError, match="supervised"):
        model.explain(pd.DataFrame({"customer_id": ["00004"]}))


def test_churn_errors() -> None:
    with pytest.raises(NotFittedError):
        ChurnModel().predict(cdnow_orders(), as_of="1998-01-01")
    with pytest.raises(UnknownName, match="feature set"):
        ChurnModel(features="fancy").fit(cdnow_orders(), as_of="1998-01-01")
    with pytest.raises(DataError, match="'orders'"):
        ChurnModel().fit({"customers": pd.DataFrame()}, as_of="1998-01-01")


def test_custom_feature_function_is_the_integration_seam() -> None:
    calls = []

    def recency_only(tables: object, as_of: object) -> pd.DataFrame:
        calls.append(as_of)
        return simple_features(tables, as_of)[["customer_id", "recency_days"]]

    model = ChurnModel(features=recency_only, n_origins=3).fit(cdnow_orders(), as_of="1998-06-30")
    assert model.feature_names_ == ["recency_days"] and len(calls) == 3


def test_evaluation_report_on_cdnow() -> None:
    ev = evaluate_churn(cdnow_orders(), "1998-06-30", features="simple")
    assert ev.test_origin == "1998-04-01" and ev.customers == 2349  # customers with a sale by 1998-04-01
    assert list(ev.table["method"]) == ["supervised (XGBoost)", "1 - P(alive) (BG/NBD)",
                                        "recency rule (days since last purchase)"]
    assert ev.table[["roc_auc", "pr_auc", "brier"]].apply(lambda c: c.between(0, 1)).all().all()
    supervised = ev.table.iloc[0]
    assert supervised["roc_auc"] > 0.7  # well above chance on a real purchase log
    assert "| method | ROC-AUC |" in ev.to_markdown()
    for table in ev.calibration.values():
        assert table["customers"].sum() == ev.customers


def test_metrics_helpers_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.2, 0.3, 0.1, 0.1, 0.1])
    assert lift_at(y, score, 0.2) == pytest.approx(1.0 / 0.3)
    report = score_report(y, score)
    assert report["roc_auc"] == pytest.approx(20 / 21)  # one of 21 (pos, neg) pairs is misordered
    assert report["brier"] == pytest.approx(float(np.mean((score - y) ** 2)))
    table = calibration_table(y, score, bins=5)
    assert table["customers"].tolist() == [2, 2, 2, 2, 2]
    assert table["observed"].tolist() == [0.0, 0.0, 0.0, 0.5, 1.0]
    with pytest.raises(DataError, match="single class"):
        score_report([1, 1], [0.2, 0.3])


def test_lists_and_export(tmp_path: Path) -> None:
    scores = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "monetary": [1000.0, 900.0, 50.0, 800.0, 700.0],
        "clv": [300.0, 250.0, 5.0, 200.0, 150.0],
        "p_alive": [0.1, 0.8, 0.05, 0.9, 0.2],
        "churn_risk": [0.9, 0.6, 0.95, 0.2, 0.8],
        "previous_churn_risk": [0.8, 0.3, 0.9, 0.05, 0.7],
    })
    winback = winback_list(scores, top_value_share=0.8)
    assert winback["customer_id"].tolist() == ["a", "e"]
    warning = early_warning_list(scores, top_value_share=0.8)
    assert warning["customer_id"].tolist() == ["b", "d"]  # alive; b is risky and rising, d rose 0.15
    assert warning["risk_change"].round(2).tolist() == [0.3, 0.15]
    assert winback_list(scores, top_value_share=0.8, limit=1)["customer_id"].tolist() == ["a"]
    for suffix in (".csv", ".parquet", ".xlsx"):
        path = export_list(warning, tmp_path / f"list{suffix}")
        back = pd.read_csv(path) if suffix == ".csv" else (
            pd.read_parquet(path) if suffix == ".parquet" else pd.read_excel(path))
        assert back["customer_id"].tolist() == ["b", "d"]
    with pytest.raises(DataError, match=r"\.csv"):
        export_list(warning, tmp_path / "list.txt")


def test_training_rows_are_sampled_above_the_cap() -> None:
    orders = cdnow_orders()
    capped = ChurnModel(features="simple", max_train_rows=500).fit(orders, as_of="1998-03-31")
    full = ChurnModel(features="simple").fit(orders, as_of="1998-03-31")
    assert capped.mode_ == full.mode_ == "supervised"
    assert capped.n_train_ == 500 < full.n_train_
    assert capped.n_calibration_ == min(500, full.n_calibration_)
    risk = capped.predict(orders, as_of="1998-03-31")["churn_risk"]
    assert risk.between(0, 1).all()
