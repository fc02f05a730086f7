#!/usr/bin/env python3
"""Reference values of BG/NBD's expected purchases of a customer alive at T
for large a and b: the boundary of the likelihood where a, b -> infinity
with a/(a+b) fixed, which short or small histories reach.

Computed with mpmath at 50 significant digits in two independent ways, and
printed only where they agree to 1e-16 (far below double precision):

* FHL 2005 eq. (10) without P(alive), as written, its Gauss series summed
  term by term at 400 digits:
  (a+b+x-1)/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
  z = t/(alpha+T+t);
* the mean over the posterior dropout probability p ~ Beta(a, b+x) of
  (1 - (1 + p k)^-(r+x)) / p, k = t/(alpha+T), by mpmath's quadrature.

    python3 -m venv /tmp/clv-venv && /tmp/clv-venv/bin/pip install mpmath
    /tmp/clv-venv/bin/python make_boundary_values.py > boundary_values.txt

The rows are pasted into src/clv/tests/boundary.rs.
"""

import mpmath as mp

mp.mp.dps = 50

PARAMS = [  # r, alpha, a, b (days)
    (0.5, 20.0, 300.0, 800.0),
    (1.7, 45.0, 5.0e4, 1.2e5),
    # Where the 200-row sample's fit ran: a ~ 1.9e6, b ~ 4.9e6.
    (0.9, 12.0, 1.9e6, 4.9e6),
]
POINTS = [(0, 10.0), (1, 25.0), (3, 60.0), (20, 400.0)]  # x, T
HORIZONS = [30.4375, 365.25]


def hyp2f1_series(A, B, C, z):
    """The Gauss series summed term by term (mpmath's hyp2f1 transforms
    the argument for z near 1 and breaks down with parameters this large)."""
    term, total, n = mp.mpf(1), mp.mpf(1), 0
    while abs(term) > mp.mpf(10) ** (-mp.mp.dps) * abs(total):
        term *= (A + n) * (B + n) / ((C + n) * (n + 1)) * z
        total += term
        n += 1
    return total


def closed(r, al, a, b, x, T, t):
    # The bracket cancels to ~1/a of its terms: evaluated with room to spare.
    with mp.workdps(400):
        z = t / (al + T + t)
        value = (a + b + x - 1) / (a - 1) * (1 - (1 - z) ** (r + x) * hyp2f1_series(r + x, b + x, a + b + x - 1, z))
    return +value


def mixture(r, al, a, b, x, T, t):
    k, s = t / (al + T), r + x
    A, B = a, b + x
    ln_beta = mp.log(mp.beta(A, B))
    mean = A / (A + B)
    sd = mp.sqrt(mean * (1 - mean) / (A + B + 1))

    def f(p):
        return (1 - (1 + p * k) ** (-s)) / p * mp.exp((A - 1) * mp.log(p) + (B - 1) * mp.log1p(-p) - ln_beta)

    cuts = [max(mp.mpf(0), mean - j * sd) for j in (60, 20, 5)] + [mean] + \
        [min(mp.mpf(1), mean + j * sd) for j in (5, 20, 60)]
    return mp.quad(f, [mp.mpf(0)] + cuts + [mp.mpf(1)])


print("// (param set, x, T, horizon, E[purchases | alive])")
for i, (r, al, a, b) in enumerate(PARAMS):
    for x, T in POINTS:
        for t in HORIZONS:
            args = [mp.mpf(v) for v in (r, al, a, b, x, T, t)]
            c, m = closed(*args), mixture(*args)
            assert abs(c - m) <= mp.mpf("1e-16") * abs(c), (i, x, T, t, c, m)
            print(f"    ({i}, {x}.0, {T!r}, {t!r}, {mp.nstr(c, 17)}),")
