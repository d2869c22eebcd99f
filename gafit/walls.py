"""Short-range safety: does every pair channel of a potential keep a repulsive wall?

Buckingham's -C/r^6 beats A exp(-r/rho) at short range, so with C > 0 every Buckingham pair has a
barrier top r_max (dE/dr = 0) below which the force attracts all the way down to r = 0 and the pair
collapses (BKS Si-O: r_max = 1.19 Å); a free fit can even give a pair that attracts at every distance.

For each unordered species pair (channel) the pair energy E(r) of an isolated pair is the sum of

- every pair form's ``pair_energy`` with the potential's values (so a plug-in pair form is checked
  for free), within that form's cutoff;
- for any other form, its isolated dimer as the form declares it (:meth:`gafit.forms.base.Form.dimer_energy`),
  within its :meth:`~gafit.forms.base.Form.interaction_range`: Tersoff's has no third atom, so
  zeta = 0 and the bond order b = 1, E = f_C(r) [A exp(-lambda1 r) - B exp(-lambda2 r)], averaged
  over the entries (i, j, j) and (j, i, i) (they may differ in B, lambda2); in a solid b < 1, so the
  dimer is the most attractive case. ZBL gives its screened nuclear repulsion; a form that declares
  no dimer is left out.

E and dE/dr are evaluated on a fine grid from :data:`R_LOW` to the largest cutoff; a sign change of
dE/dr is refined by :func:`scipy.optimize.brentq` on the forms' analytic dE/dr. Reported per channel:
r_max, the inner end of the wall (below it the force attracts down to the smallest distance
checked; ``None`` when the force still repels there, as for Morse and for Buckingham with C = 0; the
cutoff when the pair attracts at every distance, no wall at all), E(r_max), the well (the lowest E
between r_max and the cutoff) and the barrier E(r_max) - E(well). With data, the shortest distance of
the channel in the data and E there decide whether the channel is safe (see :func:`unsafe_reason`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import brentq

from gafit.forms.pair import PairForm
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, pair_list

#: smallest distance checked, Å (well inside any distance MD reaches; ZBL territory)
R_LOW = 0.3
#: grid spacing, Å
STEP = 1e-3
#: e^2/(4 pi eps0) in eV Å as LAMMPS's qqr2e (metal units)
QQR2E = 14.399645
#: a channel is unsafe when its barrier top is less than this above E at the shortest distance of
#: the data, eV (about 5 kT at 2500 K: MD samples distances the DFT frames do not hold)
MIN_BARRIER = 1.0


@dataclass
class Wall:
    """The repulsive wall of one species pair channel (distances Å, energies eV)."""

    channel: str  # "Si-O"
    forms: list[str]  # forms that contribute to the channel
    r_max: float | None  # inner end of the wall (None: the wall reaches r_low)
    e_max: float | None  # E(r_max)
    r_well: float | None  # position of the lowest E between r_max (or r_low) and the cutoff
    e_well: float | None
    barrier: float | None  # e_max - e_well: what a pair in the well must climb to collapse
    r_low: float  # smallest distance checked
    r_short: float | None = None  # shortest distance of this channel in the data
    e_short: float | None = None  # E(r_short)
    inert: bool = False  # E = 0 at every distance checked (no short-range term in this channel)

    @property
    def has_wall(self) -> bool:
        """True unless the pair attracts at every distance from r_low to the cutoff."""
        return self.r_max is None or self.r_well is not None

    def to_dict(self) -> dict:
        """The wall as JSON-ready data, with ``has_wall`` and the ``unsafe`` reason (or None)."""
        return asdict(self) | {"has_wall": self.has_wall, "unsafe": unsafe_reason(self)}


def unsafe_reason(w: Wall) -> str | None:
    """Why a channel is unsafe for MD on the data's distances, or None.

    Unsafe: no wall at all; or the data holds pairs inside the wall's end (r_short <= r_max); or the
    barrier top is less than :data:`MIN_BARRIER` above E(r_short), so a pair pushed a little closer
    than the data ever did goes over the top. Without data only "no wall at all" counts.
    """
    if w.inert:
        return None
    if not w.has_wall:
        return "no repulsive wall: the pair attracts at every distance up to the cutoff"
    if w.r_max is None or w.r_short is None or w.e_max is None or w.e_short is None:
        return None
    if w.r_short <= w.r_max:
        return (f"the data holds {w.channel} pairs at {w.r_short:.3f} Å, inside the wall's end "
                f"r_max = {w.r_max:.3f} Å")
    if w.e_max - w.e_short < MIN_BARRIER:
        return (f"the barrier top E(r_max = {w.r_max:.3f} Å) = {w.e_max:.3g} eV is only "
                f"{w.e_max - w.e_short:.3g} eV above E at the data's shortest {w.channel} distance "
                f"{w.r_short:.3f} Å (less than {MIN_BARRIER:g} eV)")
    return None


# --------------------------------------------------------------------------- pair energies


Term = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _pair(form: PairForm, block: np.ndarray) -> Term:
    """E(r), dE/dr (B, K) of a pair form's entry with parameter rows ``block`` (B, n_par)."""
    cutoff = float(form.cutoff)

    def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, g = form.pair_energy(r[None, :], *(block[:, m, None] for m in range(block.shape[1])))
        inside = r[None, :] < cutoff
        shape = (len(block), len(r))
        return np.broadcast_to(np.where(inside, e, 0.0), shape), np.broadcast_to(
            np.where(inside, g, 0.0), shape)

    return energy


def _coulomb(qq: np.ndarray) -> Term:
    """Bare Coulomb E = qq / r (B, K) for products qq (B,) = qqr2e q_a q_b, eV Å."""
    def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return qq[:, None] / r[None, :], -qq[:, None] / (r * r)[None, :]

    return energy


def channel_terms(potential: Potential, theta: np.ndarray, charges: dict[str, float] | None = None
                  ) -> dict[tuple[int, int], list[tuple[str, float, Term]]]:
    """Per channel (a, b), species indices a <= b: (form, reach in Å, term) of every contribution,
    each term r (K,) Å -> (E, dE/dr) (B, K) in eV and eV/Å for the full parameter vectors
    ``theta`` (B, n_params). Pair forms give their ``pair_energy`` within their cutoff, other forms
    their :meth:`~gafit.forms.base.Form.dimer_energy` (Tersoff, ZBL) within their interaction range,
    the Coulomb form (or ``charges``, e per species, which take precedence) the bare
    q_a q_b qqr2e / r, what Ewald's real-space erfc(g r)/r tends to at short range."""
    sp = potential.species
    theta = np.atleast_2d(np.asarray(theta, float))
    n = len(theta)
    parts: dict[tuple[int, int], list[tuple[str, float, Term]]] = {}
    q_b = {x: np.zeros(n) for x in sp}
    has_q = False
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        values = theta[:, sl]
        if form.name == "coulomb":  # per-species charges: the bare Coulomb term below
            q_b.update({x: values[:, k] for k, x in enumerate(form.species)})
            has_q = True
            continue
        for a in range(len(sp)):
            for b in range(a, len(sp)):
                if isinstance(form, PairForm):
                    k = form.entry_index(a, b)
                    m = len(form.params)
                    fn = _pair(form, values[:, k * m : (k + 1) * m])
                    reach = float(form.cutoff)
                else:  # a many-body form (or ZBL), as far as it declares its dimer
                    dimer = form.dimer_energy(values, a, b)
                    if dimer is None:
                        continue
                    fn = dimer
                    reach = float(form.interaction_range(values))
                parts.setdefault((a, b), []).append((form.name, reach, fn))
    for x, q in (charges or {}).items():
        q_b[x] = np.full(n, float(q))
        has_q = True
    if has_q:
        for a in range(len(sp)):
            for b in range(a, len(sp)):
                qq = QQR2E * q_b[sp[a]] * q_b[sp[b]]
                if np.any(qq):
                    parts.setdefault((a, b), []).append(("coulomb", 0.0, _coulomb(qq)))
    return parts


def channel_energies(potential: Potential, charges: dict[str, float] | None = None
                     ) -> dict[tuple[str, str], tuple[list[str], float, Term]]:
    """Per channel (a, b), a before b in the species list: the contributing forms, the largest
    cutoff among them (Å) and a function r (Å) -> (E, dE/dr) (eV, eV/Å) of the isolated pair at
    the potential's values (see :func:`channel_terms`)."""
    sp = potential.species
    out = {}
    for (a, b), items in channel_terms(potential, potential.values[None], charges).items():
        out[(sp[a], sp[b])] = ([nm for nm, _, _ in items], max(c for _, c, _ in items),
                               _first(_sum(items)))
    return out


def _sum(items: list[tuple[str, float, Term]]) -> Term:
    def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = g = 0.0
        for _, _, fn in items:
            de, dg = fn(r)
            e = e + de
            g = g + dg
        return np.asarray(e), np.asarray(g)

    return energy


def _first(fn: Term) -> Term:
    """The single-vector function of a batched term (its first row)."""
    def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, g = fn(np.atleast_1d(r))
        return e[0], g[0]

    return energy


# --------------------------------------------------------------------------- the wall


def _scalar(fn: Callable, r: float, which: int) -> float:
    return float(fn(np.array([r]))[which][0])


def _root(fn: Callable, lo: float, hi: float) -> float:
    """Where dE/dr changes sign on [lo, hi] (Å); the grid point ``hi`` when it is not finite there."""
    try:
        return float(brentq(lambda x: _scalar(fn, x, 1), lo, hi, xtol=1e-12))
    except ValueError:  # dE/dr is NaN at an end (values that overflow)
        return float(hi)


def find_wall(channel: str, forms: list[str], cutoff: float,
              fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], r_low: float = R_LOW) -> Wall:
    """The wall of one channel from its E(r), dE/dr function on [r_low, cutoff) (Å)."""
    n = max(int(np.ceil((cutoff - r_low) / STEP)), 2)
    r = np.linspace(r_low, cutoff, n + 1)[:-1]  # the hard cutoff itself is outside
    e, g = fn(r)
    if not np.any(e) and not np.any(g):
        return Wall(channel, forms, None, None, None, None, None, r_low, inert=True)
    attract = g > 0  # the force -dE/dr pulls the pair together
    if not attract[0]:
        r_max, k0 = None, 0
    else:
        stop = np.flatnonzero(~attract)
        if not len(stop):  # attracts everywhere: no wall at all
            return Wall(channel, forms, float(cutoff), None, None, None, None, r_low)
        k = int(stop[0])
        r_max = _root(fn, r[k - 1], r[k])
        k0 = k
    kw = k0 + int(np.argmin(e[k0:]))
    r_well, e_well = float(r[kw]), float(e[kw])
    if 0 < kw < len(r) - 1 and g[kw - 1] < 0 < g[kw + 1]:  # a smooth minimum: refine it
        lo, hi = r[kw - 1], r[kw + 1]
        if np.sign(_scalar(fn, lo, 1)) != np.sign(_scalar(fn, hi, 1)):
            r_well = _root(fn, lo, hi)
            e_well = _scalar(fn, r_well, 0)
    if e_well > 0.0:  # lowest beyond the hard cutoff, where the pair energy is 0
        r_well, e_well = float(cutoff), 0.0
    if r_max is None:
        return Wall(channel, forms, None, None, r_well, e_well, None, r_low)
    e_max = _scalar(fn, r_max, 0)
    return Wall(channel, forms, r_max, e_max, r_well, e_well, e_max - e_well, r_low)


def shortest_distances(refset: ReferenceSet, cutoff: float) -> dict[tuple[str, str], float]:
    """Shortest distance (Å) of every unordered species pair closer than ``cutoff`` in the data;
    keys sorted alphabetically."""
    out: dict[tuple[str, str], float] = {}
    for st in refset:
        if st.n_atoms < 2 and not st.atoms.pbc.any():
            continue
        i, j, d_pc, _ = pair_list(st.atoms, cutoff)
        if not len(i):
            continue
        d = np.sqrt(np.einsum("pc,pc->p", d_pc, d_pc))
        names = sorted(set(st.atoms.get_chemical_symbols()))
        code = np.array([names.index(x) for x in st.atoms.get_chemical_symbols()])
        lo, hi = np.minimum(code[i], code[j]), np.maximum(code[i], code[j])
        key_p = lo * len(names) + hi
        d_k = np.full(len(names) ** 2, np.inf)
        np.minimum.at(d_k, key_p, d)
        for k in np.flatnonzero(np.isfinite(d_k)):
            key = (names[k // len(names)], names[k % len(names)])
            out[key] = min(out.get(key, np.inf), float(d_k[k]))
    return out


def walls(potential: Potential, refset: ReferenceSet | None = None, r_low: float = R_LOW,
          charges: dict[str, float] | None = None) -> list[Wall]:
    """The wall of every species pair channel of ``potential`` (and of bare Coulomb between
    ``charges``, e per species); with ``refset``, also the shortest distance of each channel in the
    data and E there (the grid then starts at most at half of it)."""
    channels = channel_energies(potential, charges)
    short = {}
    if refset is not None and len(refset):
        short = shortest_distances(refset, max((c for _, c, _ in channels.values()), default=0.0))
    out = []
    for (a, b), (forms, cutoff, fn) in channels.items():
        r_s = short.get(tuple(sorted((a, b))))  # type: ignore[arg-type]
        low = min(r_low, 0.5 * r_s) if r_s is not None else r_low
        with np.errstate(all="ignore"):  # absurd values (a failed fit) overflow: inf is an answer
            w = find_wall(f"{a}-{b}", forms, cutoff, fn, low)
            if r_s is not None:
                w.r_short, w.e_short = r_s, _scalar(fn, r_s, 0)
        out.append(w)
    return out


def describe(w: Wall) -> str:
    """One line: 'Si-O: wall ends at r_max = 1.194 Å, E = 7.3 eV, barrier 8.4 eV above the well at
    1.61 Å; shortest in the data 1.55 Å'."""
    if w.inert:
        text = f"{w.channel}: no short-range interaction (E = 0 at every distance)"
    elif not w.has_wall:
        text = f"{w.channel}: no repulsive wall (attracts at every distance from {w.r_low:g} Å to the cutoff)"
    elif w.r_max is None:
        text = f"{w.channel}: repulsive wall down to {w.r_low:g} Å (the smallest distance checked)"
    else:
        text = (f"{w.channel}: the wall ends at r_max = {w.r_max:.3f} Å (below it the pair collapses), "
                f"E(r_max) = {w.e_max:.4g} eV, barrier {w.barrier:.4g} eV above the well at "
                f"{w.r_well:.3f} Å")
    if w.r_short is not None:
        text += f"; shortest {w.channel} distance in the data {w.r_short:.3f} Å (E = {w.e_short:.4g} eV)"
    return text


def wall_lines(ws: Sequence[Wall]) -> list[str]:
    """One line per channel, with the reason when it is unsafe."""
    return [describe(w) + (f" [UNSAFE: {u}]" if (u := unsafe_reason(w)) else "") for w in ws]


def brief(w: Wall) -> str:
    """'Si-O r_max 1.098 Å (E 9.21 eV, barrier 10.4 eV; data from 1.523 Å)', '! ' first if unsafe."""
    if w.inert:
        text = f"{w.channel} none"
    elif not w.has_wall:
        text = f"{w.channel} no wall"
    elif w.r_max is None:
        text = f"{w.channel} wall to {w.r_low:g} Å"
    else:
        text = f"{w.channel} r_max {w.r_max:.3f} Å (E {w.e_max:.3g} eV, barrier {w.barrier:.3g} eV"
        text += f"; data from {w.r_short:.3f} Å)" if w.r_short is not None else ")"
    return ("! " if unsafe_reason(w) else "") + text


# --------------------------------------------------------------------------- the wall constraint

#: ``wall = "data"``: a channel's wall must reach down to this fraction of its shortest distance in
#: the data (MD at high temperature goes closer than near-equilibrium DFT frames)
WALL_FRACTION = 0.8
#: grid spacing of the constraint, Å
CONSTRAINT_STEP = 0.005


@dataclass
class WallConstraint:
    """Every constrained channel keeps its barrier top (r_max, where the pair turns attractive going
    inward) below ``r_from``: on the grid r_from .. r_to (the data's shortest distance) dE/dr never
    turns from positive (attraction) inward to negative (repulsion) further out, which would be a
    barrier top inside the interval with a collapse below it; and a pair that attracts at r_from
    must repel somewhere between :data:`R_LOW` and r_from (its well and wall lie inward, as for an
    ionic pair whose bare well is shorter than the crystal's bond), not only beyond r_to.

    :meth:`violation` measures the breach per channel, in eV: the sum of the attractive slopes
    times the grid step that lie inward of a repulsive stretch (about the height of the barrier that
    has to go), or of every attractive slope when the pair attracts at r_from and has no wall below
    it. It is 0 exactly when the constraint holds.
    """

    potential: Potential
    pairs: list[tuple[int, int]]  # species indices (a <= b) of the constrained channels
    channels: list[str]  # "Si-O"
    r_from: np.ndarray  # (C,) Å
    r_to: np.ndarray  # (C,) Å
    setting: object  # the config's ``wall`` value

    def grid(self, c: int) -> tuple[np.ndarray, float]:
        """The grid (Å) of channel c and its step (CONSTRAINT_STEP for a single point)."""
        span = self.r_to[c] - self.r_from[c]
        n = int(np.ceil(span / CONSTRAINT_STEP)) + 1 if span > 0 else 1
        return np.linspace(self.r_from[c], self.r_to[c], n), (span / (n - 1) if n > 1
                                                               else CONSTRAINT_STEP)

    @cached_property
    def _grids(self) -> list[tuple[np.ndarray, int, float]]:
        """Per channel: the points below its grid (from :data:`R_LOW`, where a pair that attracts
        at r_from must repel somewhere) followed by :meth:`grid`'s, how many lie below, and the
        grid's step: one array, so that each term is evaluated once per call."""
        out = []
        for c in range(len(self.pairs)):
            r, step = self.grid(c)
            r_in = np.arange(R_LOW, self.r_from[c], CONSTRAINT_STEP)
            out.append((np.concatenate([r_in, r]), len(r_in), step))
        return out

    def violation(self, theta: np.ndarray) -> np.ndarray:
        """Breach (B, C) in eV for full parameter vectors ``theta`` (B, n_params); NaN where the
        parameters overflow."""
        theta = np.atleast_2d(theta)
        terms = channel_terms(self.potential, theta)
        out = np.zeros((len(theta), len(self.pairs)))
        with np.errstate(all="ignore"):
            for c, key in enumerate(self.pairs):
                if key not in terms:
                    continue
                r_all, n_in, step = self._grids[c]
                _, g = _sum(terms[key])(r_all)
                g = np.broadcast_to(g, (len(theta), len(r_all)))
                walled_below = (g[:, :n_in] < 0).any(axis=-1)
                out[:, c] = breach(g[:, n_in:], step, walled_below)
        return out

    def table(self, theta: np.ndarray) -> list[dict]:
        """Per channel: the interval (Å), the breach (eV) and whether it holds, for one vector."""
        v = self.violation(theta)[0]
        return [{"channel": ch, "r_from": float(a), "r_to": float(b), "violation": float(x),
                 "held": bool(x == 0.0)}
                for ch, a, b, x in zip(self.channels, self.r_from, self.r_to, v, strict=True)]


def breach(g: np.ndarray, step: float, walled_below: np.ndarray | bool = False) -> np.ndarray:
    """Trapezoidal integral (eV) over the grid (last axis, ascending r, spacing ``step`` Å) of the
    attractive slopes g > 0 that lie inward of a repulsive one (g < 0 further out), or of all of
    them when g > 0 at the first point and the pair does not repel below the grid
    (``walled_below``, per batch row) (B,); a single point counts with weight ``step``."""
    repels_later = np.zeros(g.shape, bool)
    if g.shape[-1] > 1:
        repels_later[..., :-1] = np.logical_or.accumulate((g < 0)[..., :0:-1], axis=-1)[..., ::-1]
    counted = repels_later | ((g[..., :1] > 0) & ~np.asarray(walled_below)[..., None])
    w = np.full(g.shape[-1], step)
    if len(w) > 1:
        w[[0, -1]] *= 0.5
    return (np.where(counted, np.maximum(g, 0.0), 0.0) @ w
            + np.where(np.isnan(g), np.nan, 0.0).sum(axis=-1))


def wall_constraint(potential: Potential, refset: ReferenceSet | None, setting: object = "data"
                    ) -> WallConstraint | None:
    """The constraint of a config's ``[constraints] wall`` on ``potential`` with training data
    ``refset``: "data" (every channel the data holds, from WALL_FRACTION x its shortest distance
    to it), a distance (Å, every channel, from it up to the data's shortest distance, or at that
    distance alone where the data has no such pair), a table {"A-B": "data" | "off" | Å} (channels
    left out: "data") or "off". None when no channel is constrained."""
    if setting == "off":
        return None
    sp = potential.species
    per = dict(setting) if isinstance(setting, dict) else {}
    for key in per:
        a, _, b = key.partition("-")
        if a not in sp or b not in sp:
            raise GafitInputError(f"[constraints] wall: '{key}' is not a pair of the potential's "
                                  f"species ({' '.join(sp)})")
    reach = max((f.cutoff for f in potential.forms), default=0.0)
    short = shortest_distances(refset, reach) if refset is not None and len(refset) else {}
    pairs, names, lo, hi = [], [], [], []
    for a in range(len(sp)):
        for b in range(a, len(sp)):
            name = f"{sp[a]}-{sp[b]}"
            mine = per.get(name, per.get(f"{sp[b]}-{sp[a]}",
                                         "data" if isinstance(setting, dict) else setting))
            r_s = short.get(tuple(sorted((sp[a], sp[b]))))  # type: ignore[arg-type]
            if mine == "off" or (mine == "data" and r_s is None):
                continue
            r_from = WALL_FRACTION * r_s if mine == "data" else float(mine)  # type: ignore[arg-type]
            pairs.append((a, b))
            names.append(name)
            lo.append(r_from)
            hi.append(max(r_from, r_s) if r_s is not None else r_from)
    if not pairs:
        return None
    return WallConstraint(potential, pairs, names, np.array(lo), np.array(hi), setting)
