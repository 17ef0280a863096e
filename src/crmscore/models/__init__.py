"""Customer-base models: BTYD purchase models, spend, CLV, P(alive) and churn early warning.

Estimators follow the scikit-learn contract: ``__init__`` stores keyword hyperparameters only, ``fit`` returns
``self`` and learned state ends in ``_`` (``params_``, ``log_likelihood_``, ``standard_errors_``).

- :func:`summary_from_transactions` / :func:`summary_expr` / :func:`summary_from_orders`: per-customer
  frequency, recency, T and mean repeat spend (in memory or as a warehouse expression).
- :class:`BetaGeo` (BG/NBD), :class:`ParetoNBD`, :class:`GammaGamma`: fitted by maximum likelihood on the
  compressed sufficient statistics.
- :func:`customer_lifetime_value`, :func:`clv_table`: discounted CLV over a horizon in months.
"""

from __future__ import annotations

from crmscore.models.betageo import BetaGeo
from crmscore.models.clv import DAYS_PER_MONTH, clv_table, customer_lifetime_value
from crmscore.models.gammagamma import GammaGamma
from crmscore.models.paretonbd import ParetoNBD
from crmscore.models.summary import summary_expr, summary_from_orders, summary_from_transactions

__all__ = [
    "DAYS_PER_MONTH",
    "BetaGeo",
    "GammaGamma",
    "ParetoNBD",
    "clv_table",
    "customer_lifetime_value",
    "summary_expr",
    "summary_from_orders",
    "summary_from_transactions",
]
