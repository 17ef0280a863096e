"""Draw per-customer summaries from the BTYD models with known parameters (for tests and benchmarks).

Every function takes a seeded ``numpy.random.Generator``; nothing uses global random state. Draws are fully
vectorised: given n Poisson arrivals in [0, w], the k-th arrival time is w times a Beta(k, n − k + 1) draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["sample_betageo", "sample_gammagamma", "sample_paretonbd"]


def _ages(n: int, T: Any, rng: np.random.Generator) -> np.ndarray:
    ages = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    if (ages <= 0).any():
        raise ValueError("T must be positive")
    return ages


def _last_arrival(x: np.ndarray, n_arrivals: np.ndarray, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Time of the x-th of n uniform arrivals in [0, window] (0 when x = 0)."""
    pos = x > 0
    t_x = np.zeros(len(x))
    t_x[pos] = window[pos] * rng.beta(x[pos], n_arrivals[pos] - x[pos] + 1)
    return t_x


def sample_betageo(n: int, params: dict[str, float], T: Any, rng: np.random.Generator,
                   holdout: float = 0.0) -> pd.DataFrame:
    """``n`` customers from the BG/NBD model: columns frequency, recency, T (plus the hidden lam, p, alive).

    ``T`` is a scalar or an array of ages (time since the first purchase). With ``holdout`` > 0 the customers
    live on for that long and ``frequency_holdout`` counts their purchases in (T, T + holdout].

    >>> df = sample_betageo(5, {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}, T=52.0, rng=np.random.default_rng(1))
    >>> list(df.columns)
    ['frequency', 'recency', 'T', 'lam', 'p', 'alive']
    """
    ages = _ages(n, T, rng)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size=n)
    p = rng.beta(params["a"], params["b"], size=n)
    arrivals_all = rng.poisson(lam * (ages + holdout))
    arrivals = rng.binomial(arrivals_all, ages / (ages + holdout)) if holdout > 0 else arrivals_all
    drop_after = rng.geometric(p)  # the customer drops out right after this repeat purchase
    x = np.minimum(arrivals, drop_after)
    t_x = _last_arrival(x, arrivals, ages, rng)
    out = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": ages, "lam": lam, "p": p,
                        "alive": arrivals < drop_after})
    if holdout > 0:
        out["frequency_holdout"] = (np.minimum(arrivals_all, drop_after) - x).astype(np.int64)
    return out


def sample_paretonbd(n: int, params: dict[str, float], T: Any, rng: np.random.Generator,
                     holdout: float = 0.0) -> pd.DataFrame:
    """``n`` customers from the Pareto/NBD model: columns frequency, recency, T (plus lam, mu, alive).

    With ``holdout`` > 0, ``frequency_holdout`` counts purchases in (T, T + holdout].

    >>> df = sample_paretonbd(4, {"r": 0.5, "alpha": 10.0, "s": 0.6, "beta": 12.0}, T=39.0,
    ...                       rng=np.random.default_rng(2))
    >>> bool((df["recency"] <= df["T"]).all())
    True
    """
    ages = _ages(n, T, rng)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size=n)
    mu = rng.gamma(params["s"], 1.0 / params["beta"], size=n)
    lifetime = rng.exponential(1.0 / mu)
    window = np.minimum(lifetime, ages)
    window_all = np.minimum(lifetime, ages + holdout)
    total = rng.poisson(lam * window_all)
    x = rng.binomial(total, window / window_all) if holdout > 0 else total
    t_x = _last_arrival(x, x, window, rng)
    out = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": ages, "lam": lam, "mu": mu,
                        "alive": lifetime > ages})
    if holdout > 0:
        out["frequency_holdout"] = (total - x).astype(np.int64)
    return out


def sample_gammagamma(frequency: Any, params: dict[str, float], rng: np.random.Generator) -> pd.DataFrame:
    """Mean spend of ``frequency`` transactions per customer under the Gamma-Gamma model.

    Each transaction is Gamma(p, ν) with ν ~ Gamma(q, γ) per customer, so the mean of x of them is
    Gamma(p·x, x·ν). Columns frequency, monetary_value, nu.

    >>> df = sample_gammagamma([1, 3], {"p": 6.0, "q": 4.0, "v": 15.0}, rng=np.random.default_rng(3))
    >>> bool((df["monetary_value"] > 0).all())
    True
    """
    x = np.asarray(frequency, dtype=np.float64)
    if (x <= 0).any():
        raise ValueError("frequency must be positive")
    nu = rng.gamma(params["q"], 1.0 / params["v"], size=len(x))
    m = rng.gamma(params["p"] * x, 1.0 / (x * nu))
    return pd.DataFrame({"frequency": x.astype(np.int64), "monetary_value": m, "nu": nu})
