"""The analytic EAM functions gafit fits, each with its r- or rho-derivative beside it, and
beside each function its derivatives with respect to its parameters (``*_dparams``: one array
per parameter, in the order of the function's arguments), from which the forms' parameter
derivatives follow (the tables are these functions on fixed knots).

Units: r in Å, energies in eV, densities in the arbitrary units of each form.

Zhou, Johnson and Wadley, Phys. Rev. B 69, 144113 (2004), as LAMMPS ``tools/eam_database``
tabulates them, with its ``beta1`` and ``lambda1`` of the density (the paper's beta and lambda) and
the published ``Fm4 = Fm3``, ``rhol = 0.85``, ``rhoh = 1.15``::

    f(r)   = fe exp(-beta1 (r/re - 1)) / (1 + (r/re - lambda1)^20)
    phi(r) = A exp(-alpha (r/re - 1)) / (1 + (r/re - kappa)^20)
             - B exp(-beta (r/re - 1)) / (1 + (r/re - lambda)^20)
    phi_ab(r) = 1/2 (f_b/f_a phi_aa + f_a/f_b phi_bb)   (tables from r = 0.5 Å)
    F(rho) = sum_k Fn_k (rho/rho_n - 1)^k          rho < rho_n = 0.85 rhoe
           = sum_k F_k (rho/rhoe - 1)^k            rho_n <= rho < rho_o = 1.15 rhoe
           = Fe (1 - eta ln(rho/rhos)) (rho/rhos)^eta    rho >= rho_o

Johnson, Phys. Rev. B 37, 3924 (1988) and 39, 12554 (1989) (alloys: the mixing rule above), with
a smooth taper psi to zero at the cutoff::

    f(r)   = fe exp(-beta (r/re - 1)) psi(r),   phi(r) = phie exp(-gamma (r/re - 1)) psi(r)
    F(rho) = -Ec (1 - (alpha/beta) ln(rho/rhoe)) (rho/rhoe)^(alpha/beta) - 6 phie (rho/rhoe)^(gamma/beta)
    rhoe = 12 fe,   psi = x^4 / (1 + x^4),  x = (cutoff - r) / width

Finnis and Sinclair, Phil. Mag. A 50, 45 (1984)::

    phi(r) = (r - c)^2 (c0 + c1 r + c2 r^2)       r < c, else 0
    rho(r) = (r - d)^2 + beta (r - d)^3 / d       r < d, else 0
    F(rho) = -A sqrt(rho)
"""

from __future__ import annotations

import numpy as np

#: Zhou's embedding function switches branch at these multiples of rhoe
ZHOU_RHO_LOW, ZHOU_RHO_HIGH = 0.85, 1.15


def cut20(x: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 / (1 + (x - shift)^20) and its x-derivative."""
    t = x - shift
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    t19 = t8 * t8 * t2 * t  # by products: a power costs ten times more
    g = 1.0 / (1.0 + t19 * t)
    return g, -20.0 * t19 * g * g


def zhou_density(r: np.ndarray, re, fe, beta, lam) -> tuple[np.ndarray, np.ndarray]:
    """Zhou's f(r) and df/dr."""
    x = r / re
    e = fe * np.exp(-beta * (x - 1.0))
    g, dg = cut20(x, lam)
    return e * g, (-beta * e * g + e * dg) / re


def zhou_density_dparams(r: np.ndarray, re, fe, beta, lam) -> tuple[np.ndarray, ...]:
    """d f/d(re, fe, beta, lam) of :func:`zhou_density` (the cutoff factor's shift enters as
    x - lam, so d/dlam = -d/dx of that factor)."""
    x = r / re
    e = np.exp(-beta * (x - 1.0))
    g, dg = cut20(x, lam)
    f, df = zhou_density(r, re, fe, beta, lam)
    return -x * df, e * g, -(x - 1.0) * f, -fe * e * dg


def zhou_pair(r: np.ndarray, re, alpha, beta, a, b, kappa, lam) -> tuple[np.ndarray, np.ndarray]:
    """Zhou's phi(r) of one element (eV) and dphi/dr (eV/Å)."""
    x = r / re
    ea = a * np.exp(-alpha * (x - 1.0))
    eb = b * np.exp(-beta * (x - 1.0))
    ga, dga = cut20(x, kappa)
    gb, dgb = cut20(x, lam)
    phi = ea * ga - eb * gb
    return phi, (-alpha * ea * ga + ea * dga + beta * eb * gb - eb * dgb) / re


def zhou_pair_dparams(r: np.ndarray, re, alpha, beta, a, b, kappa, lam
                      ) -> tuple[np.ndarray, ...]:
    """d phi/d(re, alpha, beta, a, b, kappa, lam) of :func:`zhou_pair` (eV per unit of each)."""
    x = r / re
    ea = np.exp(-alpha * (x - 1.0))
    eb = np.exp(-beta * (x - 1.0))
    ga, dga = cut20(x, kappa)
    gb, dgb = cut20(x, lam)
    dphi = zhou_pair(r, re, alpha, beta, a, b, kappa, lam)[1]
    return (-x * dphi, -(x - 1.0) * a * ea * ga, (x - 1.0) * b * eb * gb, ea * ga, -eb * gb,
            -a * ea * dga, b * eb * dgb)


def zhou_embedding(rho: np.ndarray, rhoe, rhos, fn, fm, eta, fe) -> tuple[np.ndarray, np.ndarray]:
    """Zhou's F(rho) (eV) and dF/drho; ``fn``, ``fm``: the four coefficients of the low and
    middle branches (sequences of arrays broadcasting against rho)."""
    rho_n = ZHOU_RHO_LOW * rhoe
    rho_o = ZHOU_RHO_HIGH * rhoe
    u = rho / rho_n - 1.0
    low = fn[0] + u * (fn[1] + u * (fn[2] + u * fn[3]))
    dlow = (fn[1] + u * (2.0 * fn[2] + 3.0 * u * fn[3])) / rho_n
    v = rho / rhoe - 1.0
    mid = fm[0] + v * (fm[1] + v * (fm[2] + v * fm[3]))
    dmid = (fm[1] + v * (2.0 * fm[2] + 3.0 * v * fm[3])) / rhoe
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.maximum(rho, rho_o) / rhos  # the high branch where it applies
        w_eta = w**eta
        log_w = np.log(w)
    high = fe * (1.0 - eta * log_w) * w_eta
    dhigh = -fe * eta * eta * log_w * w_eta / (w * rhos)
    f = np.where(rho < rho_n, low, np.where(rho < rho_o, mid, high))
    df = np.where(rho < rho_n, dlow, np.where(rho < rho_o, dmid, dhigh))
    return f, df


def zhou_embedding_dparams(rho: np.ndarray, rhoe, rhos, fn, fm, eta, fe
                           ) -> tuple[np.ndarray, ...]:
    """dF/d(rhoe, rhos, Fn0..Fn3, F0..F3, eta, Fe) of :func:`zhou_embedding` (14 arrays) on each
    branch (where the branches meet, the branch the value comes from)."""
    rho_n = ZHOU_RHO_LOW * rhoe
    rho_o = ZHOU_RHO_HIGH * rhoe
    low, mid = rho < rho_n, (rho >= rho_n) & (rho < rho_o)
    high = ~(low | mid)
    u = rho / rho_n - 1.0
    v = rho / rhoe - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.maximum(rho, rho_o) / rhos
        w_eta = w**eta
        log_w = np.log(w)
    df = zhou_embedding(rho, rhoe, rhos, fn, fm, eta, fe)[1]
    zero = np.zeros(np.broadcast_shapes(np.shape(rho), np.shape(rhoe)))
    # F of the low and middle branches depends on rhoe through rho/rhoe alone: -(rho/rhoe) F'
    d_rhoe = np.where(high, 0.0, -(rho / rhoe) * df)
    d_rhos = np.where(high, fe * eta * eta * log_w * w_eta / rhos, 0.0)
    d_fn = tuple(np.where(low, u**k, zero) for k in range(4))
    d_fm = tuple(np.where(mid, v**k, zero) for k in range(4))
    d_eta = np.where(high, -fe * eta * log_w * log_w * w_eta, 0.0)
    d_fe = np.where(high, (1.0 - eta * log_w) * w_eta, 0.0)
    return (d_rhoe, d_rhos, *d_fn, *d_fm, d_eta, d_fe)


def fs_pair(r: np.ndarray, c, c0, c1, c2) -> tuple[np.ndarray, np.ndarray]:
    """Finnis-Sinclair phi(r) (eV) and dphi/dr (eV/Å)."""
    t = r - c
    poly = c0 + r * (c1 + r * c2)
    inside = r < c
    phi = np.where(inside, t * t * poly, 0.0)
    dphi = np.where(inside, 2.0 * t * poly + t * t * (c1 + 2.0 * c2 * r), 0.0)
    return phi, dphi


def fs_pair_dparams(r: np.ndarray, c, c0, c1, c2) -> tuple[np.ndarray, ...]:
    """d phi/d(c, c0, c1, c2) of :func:`fs_pair`."""
    t = r - c
    inside = r < c
    t2 = np.where(inside, t * t, 0.0)
    return (np.where(inside, -2.0 * t * (c0 + r * (c1 + r * c2)), 0.0), t2, t2 * r, t2 * r * r)


def fs_density(r: np.ndarray, d, beta) -> tuple[np.ndarray, np.ndarray]:
    """Finnis-Sinclair rho(r) and drho/dr."""
    t = r - d
    inside = r < d
    rho = np.where(inside, t * t + beta * t**3 / d, 0.0)
    drho = np.where(inside, 2.0 * t + 3.0 * beta * t * t / d, 0.0)
    return rho, drho


def fs_density_dparams(r: np.ndarray, d, beta) -> tuple[np.ndarray, ...]:
    """d rho/d(d, beta) of :func:`fs_density`."""
    t = r - d
    inside = r < d
    t3_d = t**3 / d
    return (np.where(inside, -2.0 * t - 3.0 * beta * t * t / d - beta * t3_d / d, 0.0),
            np.where(inside, t3_d, 0.0))


def fs_embedding(rho: np.ndarray, a) -> tuple[np.ndarray, np.ndarray]:
    """Finnis-Sinclair F(rho) = -A sqrt(rho) (eV; 0 for rho <= 0) and dF/drho."""
    pos = np.maximum(rho, 0.0)
    root = np.sqrt(pos)
    with np.errstate(divide="ignore"):
        df = np.where(pos > 0, -0.5 * a / np.where(pos > 0, root, 1.0), 0.0)
    return -a * root, df


def fs_embedding_dparams(rho: np.ndarray, a) -> tuple[np.ndarray]:
    """dF/dA of :func:`fs_embedding`."""
    return (-np.sqrt(np.maximum(rho, 0.0)) * np.ones_like(a),)


def taper(r: np.ndarray, cutoff: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """psi(x) = x^4 / (1 + x^4), x = (cutoff - r) / width (0 beyond the cutoff), and d psi/dr:
    takes a function smoothly to zero at the cutoff (value and first three derivatives)."""
    x = np.maximum(cutoff - r, 0.0) / width
    x3 = x * x * x
    x4 = x3 * x
    psi = x4 / (1.0 + x4)
    return psi, -4.0 * x3 / ((1.0 + x4) ** 2 * width)


def johnson_density(r: np.ndarray, re, fe, beta) -> tuple[np.ndarray, np.ndarray]:
    """Johnson's f(r) = fe exp(-beta (r/re - 1)) and df/dr (before the taper)."""
    f = fe * np.exp(-beta * (r / re - 1.0))
    return f, -beta / re * f


def johnson_density_dparams(r: np.ndarray, re, fe, beta) -> tuple[np.ndarray, ...]:
    """df/d(re, fe, beta) of :func:`johnson_density` (before the taper)."""
    x = r / re
    e = np.exp(-beta * (x - 1.0))
    return fe * e * beta * x / re, e, -(x - 1.0) * fe * e


def johnson_pair(r: np.ndarray, re, phie, gamma) -> tuple[np.ndarray, np.ndarray]:
    """Johnson's phi(r) = phie exp(-gamma (r/re - 1)) (eV) and dphi/dr (before the taper)."""
    phi = phie * np.exp(-gamma * (r / re - 1.0))
    return phi, -gamma / re * phi


def johnson_pair_dparams(r: np.ndarray, re, phie, gamma) -> tuple[np.ndarray, ...]:
    """d phi/d(re, phie, gamma) of :func:`johnson_pair` (before the taper)."""
    return johnson_density_dparams(r, re, phie, gamma)  # the same exponential


def johnson_embedding(rho: np.ndarray, fe, beta, phie, gamma, ec, alpha
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Johnson's F(rho) (eV), which gives the fcc crystal Rose's universal energy with nearest
    neighbours only (rhoe = 12 fe), and dF/drho::

        F = -Ec (1 - (alpha/beta) ln(rho/rhoe)) (rho/rhoe)^(alpha/beta) - 6 phie (rho/rhoe)^(gamma/beta)
    """
    rhoe = 12.0 * fe
    a, g = alpha / beta, gamma / beta
    pos = rho > 0
    y = np.where(pos, rho, 1.0) / rhoe
    log_y = np.log(y)
    ya, yg = y**a, y**g
    f = -ec * (1.0 - a * log_y) * ya - 6.0 * phie * yg
    df = (ec * a * a * log_y * ya - 6.0 * phie * g * yg) / (y * rhoe)
    return np.where(pos, f, 0.0), np.where(pos, df, 0.0)


def johnson_embedding_dparams(rho: np.ndarray, fe, beta, phie, gamma, ec, alpha
                              ) -> tuple[np.ndarray, ...]:
    """dF/d(fe, beta, phie, gamma, Ec, alpha) of :func:`johnson_embedding` (0 where rho <= 0)."""
    rhoe = 12.0 * fe
    a, g = alpha / beta, gamma / beta
    pos = rho > 0
    y = np.where(pos, rho, 1.0) / rhoe
    log_y = np.log(y)
    ya, yg = y**a, y**g
    df = johnson_embedding(rho, fe, beta, phie, gamma, ec, alpha)[1]
    d_a = ec * a * log_y * log_y * ya  # dF/d(alpha/beta) at fixed y
    d_g = -6.0 * phie * log_y * yg  # dF/d(gamma/beta)
    out = (-(rho / fe) * df, -(a * d_a + g * d_g) / beta, -6.0 * yg, d_g / beta,
           -(1.0 - a * log_y) * ya, d_a / beta)
    return tuple(np.where(pos, d, 0.0) for d in out)
