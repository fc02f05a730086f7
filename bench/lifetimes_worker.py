#!/usr/bin/env python3
"""One timed run of the `lifetimes` package on a published customers table
(bench.py runs it in .venv-lifetimes): fits BG/NBD and Gamma-Gamma on the
same per-customer summary our CLV stage fitted, then computes what that
stage publishes per customer (probability alive, expected orders over the
horizon, expected order value, CLV). Prints one JSON line of timings and
parameters.

    python lifetimes_worker.py CUSTOMERS_DIR HORIZON_MONTHS DISCOUNT [--weights]

With --weights both fits run on the summary compressed to unique rows with
their counts as weights (lifetimes' `weights` argument), as its
documentation suggests for large data sets; the predictions are still
computed per customer.
"""
import json
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter


def main():
    path, horizon, discount = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    weighted = "--weights" in sys.argv[4:]
    t0 = time.perf_counter()
    d = pd.read_parquet(
        path, columns=["frequency", "recency_days", "tenure_days", "monetary_value"])
    f, r, T, m = (d["frequency"], d["recency_days"].astype(float),
                  d["tenure_days"].astype(float), d["monetary_value"])
    t_read = time.perf_counter()

    bgf = BetaGeoFitter(penalizer_coef=0.0)
    repeat = (f > 0) & (m > 0)
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    if weighted:
        rows = pd.DataFrame({"f": f, "r": r, "T": T}).value_counts().reset_index(name="w")
        bgf.fit(rows["f"], rows["r"], rows["T"], weights=rows["w"])
        spend = pd.DataFrame({"f": f[repeat], "m": m[repeat]}).value_counts().reset_index(name="w")
        ggf.fit(spend["f"], spend["m"], weights=spend["w"])
    else:
        bgf.fit(f, r, T)
        ggf.fit(f[repeat], m[repeat])
    t_fit = time.perf_counter()

    bgf.conditional_probability_alive(f.values, r.values, T.values)
    bgf.conditional_expected_number_of_purchases_up_to_time(horizon * 30.4375, f, r, T)
    ggf.conditional_expected_average_profit(f, m)
    ggf.customer_lifetime_value(bgf, f, r, T, m, time=horizon, freq="D",
                                discount_rate=discount)
    t_predict = time.perf_counter()

    print(json.dumps({
        "customers": int(len(d)),
        "repeat_customers": int(repeat.sum()),
        "weighted": weighted,
        "read_s": t_read - t0,
        "fit_s": t_fit - t_read,
        "predict_s": t_predict - t_fit,
        "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
        "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
    }), flush=True)


if __name__ == "__main__":
    main()
