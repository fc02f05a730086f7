#!/usr/bin/env python3
"""Independent spot values for the CLV module's unit tests.

Written from the papers, not from lifetimes or the Rust code, and each
closed form is checked here against a direct numerical integration of the
model's definition (scipy.integrate), so a shared algebra slip would show.

    python3 -m venv /tmp/clv-venv && /tmp/clv-venv/bin/pip install scipy numpy
    /tmp/clv-venv/bin/python make_spot_values.py

Prints Rust array literals that are pasted into src/clv/tests/spot_values.rs.
"""

import numpy as np
from scipy import integrate
from scipy.special import betaln, gammaln, hyp2f1, logsumexp

BG = [
    # r, alpha, a, b (days); the first is CDNOW's published fit with weeks
    # converted to days, the second has a > 1.
    (0.243, 30.898, 0.793, 2.426),
    (0.5, 40.0, 1.3, 6.0),
]
POINTS = [  # x, t_x, T
    (0, 0, 0), (0, 0, 100), (1, 10, 50), (2, 30, 30), (3, 200, 365),
    (20, 700, 730), (5000, 900, 1000), (5000, 999, 1000),
]
GG = [(6.0, 4.0, 16.0), (0.8, 2.5, 40.0)]
GG_POINTS = [(1, 20.0), (3, 5.5), (50, 100.0), (5000, 17.0)]


def bg_ll_closed(r, al, a, b, x, tx, T):
    # FHL 2005 eq. (6): B(a,b+x)/B(a,b) Γ(r+x)α^r/(Γ(r)(α+T)^(r+x))
    #   + δ B(a+1,b+x−1)/B(a,b) Γ(r+x)α^r/(Γ(r)(α+t_x)^(r+x))
    common = gammaln(r + x) - gammaln(r) + r * np.log(al)
    t1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(al + T)
    if x == 0:
        return common + t1
    t2 = betaln(a + 1, b + x - 1) - betaln(a, b) - (r + x) * np.log(al + tx)
    return common + logsumexp([t1, t2])


def bg_ll_numeric(r, al, a, b, x, tx, T):
    # L(x,t_x,T | λ,p) = (1−p)^x λ^x e^{−λT} + δ p(1−p)^{x−1} λ^x e^{−λ t_x},
    # integrated over λ ~ Gamma(r, α) (closed form in λ), then over p ~ Beta(a,b)
    # numerically.
    def lam_int(s):  # E_λ[λ^x e^{−λ s}] = Γ(r+x)/Γ(r) α^r/(α+s)^(r+x)
        return np.exp(gammaln(r + x) - gammaln(r) + r * np.log(al) - (r + x) * np.log(al + s))

    def f(p):
        dens = np.exp((a - 1) * np.log(p) + (b - 1) * np.log1p(-p) - betaln(a, b))
        v = (1 - p) ** x * lam_int(T)
        if x > 0:
            v += p * (1 - p) ** (x - 1) * lam_int(tx)
        return v * dens

    val, _ = integrate.quad(f, 0, 1, epsabs=0, epsrel=1e-13, limit=500)
    return np.log(val)


def p_alive(r, al, a, b, x, tx, T):
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x))


def e_hyp(r, al, a, b, x, tx, T, t):
    # FHL 2005 eq. (10) with scipy's hyp2f1.
    z = t / (al + T + t)
    h = hyp2f1(r + x, b + x, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x) * h) * p_alive(r, al, a, b, x, tx, T)


def e_integral(r, al, a, b, x, tx, T, t):
    # Given alive: λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x) independent and
    # E[Y(t) | λ,p] = (1 − e^{−λpt})/p; integrate λ in closed form, p
    # numerically over u = ln p.
    k = t / (al + T)

    def g(u):
        p = np.exp(u)
        h = -np.expm1(-(r + x) * np.log1p(p * k)) / p
        dens = np.exp(a * u + (b + x - 1) * np.log1p(-p) - betaln(a, b + x))
        return h * dens

    mode = np.log(a / (a + b + x))
    val, _ = integrate.quad(g, -80, np.log1p(-1e-16), points=[mode - 5, mode, mode + 5],
                            epsabs=0, epsrel=1e-13, limit=2000)
    return val * p_alive(r, al, a, b, x, tx, T)


def p_no_order(r, al, a, b, x, tx, T, t):
    pa = p_alive(r, al, a, b, x, tx, T)
    return (1 - pa) + pa * ((al + T) / (al + T + t)) ** (r + x)


def gg_ll_closed(p, q, g, x, m):
    # Note 025 eq. (1a).
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


def gg_ll_numeric(p, q, g, x, m):
    # Mean of x Gamma(p, ν) values is Gamma(px, rate νx); ν ~ Gamma(q, rate γ).
    def f(lnv):
        nu = np.exp(lnv)
        ld = (p * x) * np.log(nu * x) + (p * x - 1) * np.log(m) - nu * x * m - gammaln(p * x)
        lp = q * np.log(g) + (q - 1) * lnv - g * nu - gammaln(q)
        return np.exp(ld + lp + lnv)

    centre = np.log((p * x + q) / (g + m * x))
    val, _ = integrate.quad(f, centre - 40, centre + 10, points=[centre], epsabs=0, epsrel=1e-13,
                            limit=500)
    return np.log(val)


def main():
    print("// BG/NBD: (param set, x, t_x, T, log-likelihood, p_alive, E[Y(365)], p_no_order(365))")
    for i, prm in enumerate(BG):
        for (x, tx, T) in POINTS:
            ll = bg_ll_closed(*prm, x, tx, T)
            if x <= 20:
                num = bg_ll_numeric(*prm, x, tx, T)
                assert abs(ll - num) < 1e-9 * max(1, abs(ll)), (prm, x, ll, num)
            ei = e_integral(*prm, x, tx, T, 365.0)
            if x <= 20:
                eh = e_hyp(*prm, x, tx, T, 365.0)
                assert abs(eh - ei) < 1e-9 * max(ei, 1e-12), (prm, x, eh, ei)
            print(f"    ({i}, {x}.0, {tx}.0, {T}.0, {float(ll)!r}, {p_alive(*prm, x, tx, T)!r}, {ei!r}, "
                  f"{p_no_order(*prm, x, tx, T, 365.0)!r}),")
    print("// Gamma-Gamma: (param set, x, m, log-likelihood)")
    for i, prm in enumerate(GG):
        for (x, m) in GG_POINTS:
            ll = gg_ll_closed(*prm, x, m)
            num = gg_ll_numeric(*prm, x, m)
            assert abs(ll - num) < 1e-9 * max(1, abs(ll)), (prm, x, m, ll, num)
            print(f"    ({i}, {x}.0, {m!r}, {float(ll)!r}),")


if __name__ == "__main__":
    main()
