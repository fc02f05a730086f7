#!/usr/bin/env python3
"""Writes the CDNOW sample's order data (Fader, Hardie & Lee 2005: 2,357
customers who made their first purchase at CDNOW in the first quarter of
1997, and their purchases to June 1998) as a CSV in the tool's input form.

The source is `CDNOW_sample.txt` as shipped with the `lifetimes` package
(columns: master id, sample id, date YYYYMMDD, CDs bought, dollars). Each
line becomes one order at noon UTC on its date; several lines on one day
stay separate orders, and the tool counts purchase days, as the published
analyses do.

    /tmp/lifetimes-venv/bin/python make_cdnow_orders.py \
        "$(/tmp/lifetimes-venv/bin/python -c 'import lifetimes, os; print(os.path.dirname(lifetimes.__file__))')/datasets/CDNOW_sample.txt" \
        cdnow_orders.csv
"""

import csv
import sys


def main(src, dst):
    with open(src) as fh, open(dst, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["order_id", "customer_id", "order_ts", "amount"])
        for n, line in enumerate(fh, start=1):
            _master, sample_id, day, _cds, dollars = line.split()
            ts = f"{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00Z"
            w.writerow([f"L{n:05d}", f"C{int(sample_id):04d}", ts, dollars])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
