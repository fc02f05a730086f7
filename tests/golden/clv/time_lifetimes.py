#!/usr/bin/env python3
"""Times lifetimes 0.11.3 on a summary CSV (customer_id,frequency,recency,T,
monetary_value), step by step, printing elapsed times as it goes so a run cut
off by a time cap still shows where it got to.

    timeout 600 /tmp/lifetimes-venv/bin/python time_lifetimes.py /tmp/clv-1m.csv
"""
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

t0 = time.time()


def say(msg):
    print(f"[{time.time() - t0:8.1f}s] {msg}", flush=True)


d = pd.read_csv(sys.argv[1], dtype={"customer_id": str}).set_index("customer_id")
say(f"read {len(d)} customers")
bgf = BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(d["frequency"], d["recency"], d["T"])
say(f"BetaGeoFitter.fit done: {dict(bgf.params_)}")
rep = d[(d["frequency"] > 0) & (d["monetary_value"] > 0)]
ggf = GammaGammaFitter(penalizer_coef=0.0)
ggf.fit(rep["frequency"], rep["monetary_value"])
say(f"GammaGammaFitter.fit done ({len(rep)} repeat buyers): {dict(ggf.params_)}")
f, r, T, m = d["frequency"], d["recency"], d["T"], d["monetary_value"]
bgf.conditional_probability_alive(f.values, r.values, T.values)
say("conditional_probability_alive done")
bgf.conditional_expected_number_of_purchases_up_to_time(365, f, r, T)
say("conditional_expected_number_of_purchases_up_to_time(365) done")
ggf.conditional_expected_average_profit(f, m)
say("conditional_expected_average_profit done")
ggf.customer_lifetime_value(bgf, f, r, T, m, time=12, freq="D", discount_rate=0.01)
say("customer_lifetime_value(12 months) done")
