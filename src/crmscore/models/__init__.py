"""Customer-base models: BTYD purchase models, spend, CLV, P(alive) and churn early warning.

Estimators follow the scikit-learn contract: ``__init__`` stores keyword hyperparameters only, ``fit`` returns
``self`` and learned state ends in ``_`` (``params_``, ``log_likelihood_``, ``standard_errors_``).

- :func:`summary_from_transactions` / :func:`summary_expr` / :func:`summary_from_orders`: per-customer
  frequency, recency, T and mean repeat spend (in memory or as a warehouse expression).
- :class:`BetaGeo` (BG/NBD), :class:`ParetoNBD`, :class:`GammaGamma`: fitted by maximum likelihood on the
  compressed sufficient statistics.
- :func:`customer_lifetime_value`, :func:`clv_table`: discounted CLV over a horizon in months.
- :class:`ChurnModel`: supervised churn risk trained by backtesting, calibrated, with reasons;
  :func:`evaluate_churn` compares it with 1 - P(alive) and a recency rule.
- :func:`winback_list`, :func:`early_warning_list`, :func:`export_list`: action lists.
"""

from __future__ import annotations

from crmscore.models.betageo import BetaGeo
from crmscore.models.churn import ChurnModel
from crmscore.models.clv import DAYS_PER_MONTH, clv_table, customer_lifetime_value
from crmscore.models.evaluation import ChurnEvaluation, evaluate_churn
from crmscore.models.gammagamma import GammaGamma
from crmscore.models.lists import early_warning_list, export_list, winback_list
from crmscore.models.paretonbd import ParetoNBD
from crmscore.models.summary import summary_expr, summary_from_orders, summary_from_transactions

__all__ = [
    "DAYS_PER_MONTH",
    "BetaGeo",
    "ChurnEvaluation",
    "ChurnModel",
    "GammaGamma",
    "ParetoNBD",
    "clv_table",
    "customer_lifetime_value",
    "early_warning_list",
    "evaluate_churn",
    "export_list",
    "summary_expr",
    "summary_from_orders",
    "summary_from_transactions",
    "winback_list",
]
