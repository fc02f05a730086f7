#!/usr/bin/env python3
"""Reference values of the Pareto/NBD and MBG/NBD formulas at 50 digits.

Independent of the Rust code's forms: Pareto/NBD's likelihood and P(alive)
use the Gauss hypergeometric closed form of Fader & Hardie's note 008
(with its case split at alpha = beta), checked here against mpmath's
Gauss-Legendre quadrature of the integral form to 1e-18; its expected purchases use the closed
form of Schmittlein, Morrison & Colombo (1987); P(no purchase) integrates
the density of the first purchase before death over the posterior.
MBG/NBD uses the formulas of Batislam, Denizel & Filiztekin (2007), with
mpmath's hyp2f1. Time in days.

    python3 -m venv /tmp/clv-venv && /tmp/clv-venv/bin/pip install mpmath
    /tmp/clv-venv/bin/python make_model_spot_values.py > model_spot_values.txt

Columns: model r alpha c d x t_x T horizon log_likelihood p_alive
expected_purchases p_no_purchase, where (c, d) = (s, beta) for pareto_nbd
and (a, b) for mbg_nbd.
"""

import mpmath as mp

mp.mp.dps = 50

PARETO = [  # r, alpha, s, beta
    (0.553, 74.04, 0.606, 81.68),   # CDNOW's published fit, in days
    (0.8, 30.0, 0.9, 30.0),         # alpha = beta
    (0.8, 30.0, 0.9, 30.000001),    # alpha ~ beta
    (2.5, 10.0, 0.3, 400.0),        # heavy buyers, beta >> alpha
    (0.4, 300.0, 1.0, 20.0),        # s = 1, alpha >> beta
]
MBG = [  # r, alpha, a, b
    (0.243, 30.9, 0.793, 2.426),
    (0.5, 40.0, 1.3, 4.0),
]
POINTS = [(0, 0, 50), (1, 20, 300), (5, 290, 300), (12, 300, 300), (200, 600, 700)]
HORIZON = mp.mpf("365.25")


def pareto_a0(r, al, s, be, x, tx, T):
    """(s/(r+s+x)) * A0 of note 008: the 'died in (t_x, T]' term."""
    rsx = r + s + x
    if al >= be:
        big, b2 = al, s + 1
    else:
        big, b2 = be, r + x
    z = lambda y: abs(al - be) / (big + y)
    f = lambda y: mp.hyp2f1(rsx, b2, rsx + 1, z(y)) / (big + y) ** rsx
    return s / rsx * (f(tx) - f(T))


def pareto_integral(r, al, s, be, x, tx, T):
    """s * integral over (t_x, T] of (al+y)^-(r+x) (be+y)^-(s+1)."""
    g = lambda y: (al + y) ** (-(r + x)) * (be + y) ** (-(s + 1))
    if T <= tx:
        return mp.mpf(0)
    # Gauss-Legendre on 100 panels: mpmath's default tanh-sinh rule stalls
    # near 1e-13 on these steep integrands.
    return s * mp.quad(g, mp.linspace(tx, T, 100), method="gauss-legendre")


def pareto(r, al, s, be, x, tx, T, t):
    alive = (al + T) ** (-(r + x)) * (be + T) ** (-s)
    died = pareto_a0(r, al, s, be, x, tx, T)
    check = pareto_integral(r, al, s, be, x, tx, T)
    assert abs(died - check) <= mp.mpf(10) ** -18 * max(abs(check), alive), (died, check)
    ll = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(al) + s * mp.log(be) \
        + mp.log(alive + died)
    p_alive = alive / (alive + died)
    expected = (r + x) * (be + T) / ((al + T) * (s - 1)) \
        * (1 - ((be + T) / (be + T + t)) ** (s - 1)) if s != 1 else \
        (r + x) * (be + T) / (al + T) * mp.log((be + T + t) / (be + T))
    a2, b2 = al + T, be + T
    density = lambda v: (r + x) / (a2 + v) * (a2 / (a2 + v)) ** (r + x) * (b2 / (b2 + v)) ** s
    bought = mp.quad(density, mp.linspace(0, t, 100), method="gauss-legendre")
    p_none = (1 - p_alive) + p_alive * (1 - bought)
    return ll, p_alive, p_alive * expected, p_none


def mbg(r, al, a, b, x, tx, T, t):
    ll = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(al) \
        + mp.loggamma(a + b) + mp.loggamma(b + x + 1) - mp.loggamma(b) - mp.loggamma(a + b + x + 1) \
        + mp.log((al + T) ** (-(r + x)) + a / (b + x) * (al + tx) ** (-(r + x)))
    p_alive = 1 / (1 + a / (b + x) * ((al + T) / (al + tx)) ** (r + x))
    z = t / (al + T + t)
    e_alive = (a + b + x) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x)
                                       * mp.hyp2f1(r + x, b + x + 1, a + b + x, z))
    p_none = (1 - p_alive) + p_alive * ((al + T) / (al + T + t)) ** (r + x)
    return ll, p_alive, p_alive * e_alive, p_none


def main():
    print("model r alpha c d x t_x T horizon log_likelihood p_alive expected_purchases p_no_purchase")
    for name, sets, fn in (("pareto_nbd", PARETO, pareto), ("mbg_nbd", MBG, mbg)):
        for params in sets:
            ps = [mp.mpf(repr(v)) for v in params]
            for x, tx, T in POINTS:
                vals = fn(*ps, mp.mpf(x), mp.mpf(tx), mp.mpf(T), HORIZON)
                print(name, *map(repr, params), x, tx, T, mp.nstr(HORIZON, 10),
                      *(mp.nstr(v, 20) for v in vals))


if __name__ == "__main__":
    main()
