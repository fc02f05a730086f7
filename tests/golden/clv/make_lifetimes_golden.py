#!/usr/bin/env python3
"""Parity golden for the CLV module, made with the `lifetimes` package.

Reads a per-customer summary CSV with columns customer_id, frequency,
recency (or recency_days), T (or tenure_days), monetary_value; fits
BetaGeoFitter(penalizer_coef=0) and GammaGammaFitter(penalizer_coef=0) with
time in days; writes JSON with the fitted parameters, log-likelihoods and
per-customer predictions.

Environment (pinned because lifetimes 0.11.3 is unmaintained and breaks on
newer numpy/pandas/scipy):

    python3 -m venv /tmp/lifetimes-venv
    /tmp/lifetimes-venv/bin/pip install "lifetimes==0.11.3" "numpy<2" \
        "pandas<2" "scipy<1.12" "pyarrow<17" autograd dill

Usage:

    /tmp/lifetimes-venv/bin/python make_lifetimes_golden.py customers.csv \
        lifetimes_golden.json

Notes on what is recorded:
* lifetimes fits BG/NBD on time scaled to max(T) = 1 and reports a *mean*
  negative log-likelihood in those units; `log_likelihood` here is the total
  log-likelihood in days, computed with lifetimes' own likelihood function at
  its fitted parameters (unscaled data), which is what the Rust module
  reports.
* Gamma-Gamma is fitted only on customers with frequency > 0 and
  monetary_value > 0 (as lifetimes requires).
* customer_lifetime_value uses freq="D", i.e. 30-day months: compare with
  month_days = 30.
"""

import json
import sys

import numpy as np
import pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter


def read_summary(path):
    d = pd.read_csv(path, dtype={"customer_id": str})
    d = d.rename(columns={"recency_days": "recency", "tenure_days": "T"})
    d = d[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    d["frequency"] = d["frequency"].astype(int)
    d["recency"] = d["recency"].astype(float)
    d["T"] = d["T"].astype(float)
    d["monetary_value"] = d["monetary_value"].astype(float)
    return d.set_index("customer_id")


def main(src, dst):
    d = read_summary(src)
    n = len(d)

    bgf = BetaGeoFitter(penalizer_coef=0.0)
    bgf.fit(d["frequency"], d["recency"], d["T"])
    bg_log_params = np.log(bgf.params_[["r", "alpha", "a", "b"]].values)
    ones = np.ones(n)
    bg_ll = -n * BetaGeoFitter._negative_log_likelihood(
        bg_log_params, d["frequency"].values, d["recency"].values, d["T"].values, ones, 0.0
    )

    rep = d[(d["frequency"] > 0) & (d["monetary_value"] > 0)]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(rep["frequency"], rep["monetary_value"])
    gg_log_params = np.log(ggf.params_[["p", "q", "v"]].values)
    gg_ll = -len(rep) * GammaGammaFitter._negative_log_likelihood(
        gg_log_params, rep["frequency"].values.astype(float), rep["monetary_value"].values,
        np.ones(len(rep)), 0.0
    )

    f, r, t, m = d["frequency"], d["recency"], d["T"], d["monetary_value"]
    p_alive = bgf.conditional_probability_alive(f.values, r.values, t.values)
    exp365 = bgf.conditional_expected_number_of_purchases_up_to_time(365, f, r, t)
    profit = ggf.conditional_expected_average_profit(f, m)
    clv = ggf.customer_lifetime_value(bgf, f, r, t, m, time=12, freq="D", discount_rate=0.01)

    out = {
        "source": src,
        "lifetimes_version": lifetimes.__version__,
        "numpy_version": np.__version__,
        "customers": n,
        "bg_nbd": {
            "params": {k: float(v) for k, v in bgf.params_.items()},
            "log_likelihood": float(bg_ll),
            "lifetimes_mean_nll_scaled_time": float(bgf._negative_log_likelihood_),
        },
        "gamma_gamma": {
            "params": {k: float(v) for k, v in ggf.params_.items()},
            "log_likelihood": float(gg_ll),
            "customers": int(len(rep)),
        },
        "settings": {"expected_purchases_t_days": 365, "clv_months": 12, "clv_month_days": 30,
                     "discount_rate_monthly": 0.01},
        "per_customer": {
            "customer_id": list(d.index),
            "p_alive": [float(v) for v in np.asarray(p_alive)],
            "expected_purchases_365": [float(v) for v in np.asarray(exp365)],
            "expected_avg_profit": [float(v) for v in np.asarray(profit)],
            "clv_12m_30d_1pct": [float(v) for v in np.asarray(clv)],
        },
    }
    with open(dst, "w") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps({k: out[k] for k in ("bg_nbd", "gamma_gamma")}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
