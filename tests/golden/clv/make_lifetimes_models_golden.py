#!/usr/bin/env python3
"""Parity golden for the Pareto/NBD and MBG/NBD models, made with `lifetimes`.

Reads the per-customer summary CSV of the golden dataset (columns
customer_id, frequency, recency_days, tenure_days; time in days), fits
ParetoNBDFitter and ModifiedBetaGeoFitter (penalizer 0), and writes JSON
with the fitted parameters, total log-likelihoods (days, computed with
lifetimes' own likelihood functions on unscaled data) and per-customer
predictions at lifetimes' parameters.

Environment: the pinned virtualenv of make_lifetimes_golden.py.

Usage:

    /tmp/lifetimes-venv/bin/python make_lifetimes_models_golden.py \
        ../expected/customers.csv lifetimes_models_golden.json

Notes:
* ParetoNBDFitter fits with Nelder-Mead and a loose default tolerance, and
  ModifiedBetaGeoFitter with BFGS to a gradient of about 1e-7. Both are
  polished here on lifetimes' own likelihood functions (BFGS, then
  Nelder-Mead with tight tolerances, on log-parameters and time scaled as
  lifetimes scales it), so the recorded parameters are the optimum of
  lifetimes' likelihood, not a point where its optimizer stopped. The
  gradient norm at the recorded point is written out as evidence.
"""

import json
import sys

import numpy as np
import pandas as pd
import lifetimes
from lifetimes import ModifiedBetaGeoFitter, ParetoNBDFitter
from scipy.optimize import minimize


def read_summary(path):
    d = pd.read_csv(path, dtype={"customer_id": str})
    d = d.rename(columns={"recency_days": "recency", "tenure_days": "T"})
    d = d[["customer_id", "frequency", "recency", "T"]].copy()
    d["frequency"] = d["frequency"].astype(int)
    d["recency"] = d["recency"].astype(float)
    d["T"] = d["T"].astype(float)
    return d.set_index("customer_id")


def pareto_total_nll(log_params, f, r, t):
    # lifetimes' Pareto/NBD likelihood takes natural parameters and returns
    # the total over customers (sum / mean weight, weights 1).
    n = len(f)
    return ParetoNBDFitter._negative_log_likelihood(np.exp(log_params), f, r, t, np.ones(n), 0.0)


def mbg_total_nll(log_params, f, r, t):
    # lifetimes' MBG/NBD likelihood takes log-parameters and returns the mean.
    n = len(f)
    return n * ModifiedBetaGeoFitter._negative_log_likelihood(log_params, f, r, t, np.ones(n), 0.0)


def central_gradient(fn, x, h=1e-6):
    g = np.zeros(len(x))
    for k in range(len(x)):
        up, dn = x.copy(), x.copy()
        up[k] += h
        dn[k] -= h
        g[k] = (fn(up) - fn(dn)) / (2 * h)
    return g


def polish(fitter, total_nll, names, time_params, f, r, t):
    """Maximises the fitter's own likelihood from its fitted point, in
    log-parameters and time scaled to max(T) = 1 as lifetimes fits: BFGS,
    then Nelder-Mead with tight tolerances. Returns the parameters in days
    and the norm of the mean log-likelihood's gradient (central differences,
    scaled log-parameters) at the end."""
    scale = 1.0 / t.max()
    n = len(f)
    mean_nll = lambda x: total_nll(x, f, r * scale, t * scale) / n
    p = fitter.params_[names].values.copy()
    p[time_params] *= scale
    x = minimize(mean_nll, np.log(p), method="BFGS", options={"gtol": 1e-10}).x
    x = minimize(mean_nll, x, method="Nelder-Mead",
                 options={"xatol": 1e-11, "fatol": 1e-15, "maxiter": 100000, "maxfev": 100000}).x
    g = np.linalg.norm(central_gradient(mean_nll, x))
    params = np.exp(x)
    params[time_params] /= scale
    return params, float(g)


def main(src, dst):
    d = read_summary(src)
    f, r, t = d["frequency"].values, d["recency"].values, d["T"].values

    pnf = ParetoNBDFitter(penalizer_coef=0.0)
    pnf.fit(f, r, t)
    pareto, pareto_grad = polish(pnf, pareto_total_nll, ["r", "alpha", "s", "beta"], [1, 3],
                                 f, r, t)
    pnf.params_ = pd.Series(pareto, index=["r", "alpha", "s", "beta"])

    mbg = ModifiedBetaGeoFitter(penalizer_coef=0.0)
    mbg.fit(f, r, t)
    mbg_params, mbg_grad = polish(mbg, mbg_total_nll, ["r", "alpha", "a", "b"], [1], f, r, t)
    mbg.params_ = pd.Series(mbg_params, index=["r", "alpha", "a", "b"])

    horizon = 365.0
    out = {
        "source": src,
        "lifetimes_version": lifetimes.__version__,
        "numpy_version": np.__version__,
        "customers": len(d),
        "pareto_nbd": {
            "params": dict(zip(["r", "alpha", "s", "beta"], map(float, pareto))),
            "log_likelihood": float(-pareto_total_nll(np.log(pareto), f, r, t)),
            "gradient_norm_scaled_log_params": pareto_grad,
        },
        "mbg_nbd": {
            "params": dict(zip(["r", "alpha", "a", "b"], map(float, mbg_params))),
            "log_likelihood": float(-mbg_total_nll(np.log(mbg_params), f, r, t)),
            "gradient_norm_scaled_log_params": mbg_grad,
        },
        "settings": {"expected_purchases_t_days": horizon},
        "per_customer": {
            "customer_id": list(d.index),
            "pareto_p_alive": [float(v) for v in
                               pnf.conditional_probability_alive(f, r, t)],
            "pareto_expected_purchases_365": [float(v) for v in np.asarray(
                pnf.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, t))],
            "pareto_p_no_purchase_365": [float(v) for v in np.asarray(
                pnf.conditional_probability_of_n_purchases_up_to_time(0, horizon, f, r, t))],
            "mbg_p_alive": [float(v) for v in np.asarray(
                mbg.conditional_probability_alive(f, r, t))],
            "mbg_expected_purchases_365": [float(v) for v in np.asarray(
                mbg.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, t))],
        },
    }
    with open(dst, "w") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps({k: out[k] for k in ("pareto_nbd", "mbg_nbd")}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
