"""Bad input never crashes gafit: property-based tests (hypothesis) of every reader, and of the fit.

Every reader (CSV per-atom and binding-curve layouts, extxyz, TOML config, ``pair.lmp`` written by
gafit, LAMMPS ``.tersoff``, ``potential.json``) is given VALID files written by gafit's own writers
(or real files), damaged by random mutations (see ``strategies.py``). Each must either read the file
or raise ONE ``GafitInputError`` whose message is one line starting with the file's name; any other
exception fails the test. Writers and commands that fail must not lose what was already written:
``gafit convert`` onto an existing file, ``write_reference``, and ``gafit fit`` into an existing
output folder. Parameter vectors that overflow or are NaN are scored as bad, never crash a run.

How many malformed inputs were tried is printed by the last test (even without ``-s``):

    .venv/bin/pytest tests/test_bad_input.py

``GAFIT_FUZZ_SCALE=10`` multiplies every example count (a longer hunt); ``GAFIT_FUZZ_RANDOM=1``
draws new examples on every run instead of the fixed (derandomized) ones; ``GAFIT_FUZZ_NO_SHRINK=1``
reports failures as found, without minutes of shrinking.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from helpers import ROOT
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from strategies import (
    CSV_OPS,
    TOML_VALUES,
    binding_curve_csv,
    mutated,
    mutated_tree,
    potentials,
    reference_sets,
    toml_dumps,
)

from gafit.cli import main
from gafit.config import load_config
from gafit.forms.tersoff import Tersoff
from gafit.ga import GASettings, run_ga
from gafit.io import read_reference, write_reference
from gafit.lammps.files import write_lammps
from gafit.objective import Objective, Weights
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.refine import refine
from gafit.structures import GafitInputError, ReferenceSet, Structure

SCALE = float(os.environ.get("GAFIT_FUZZ_SCALE", "1"))
#: malformed inputs given to each reader or command, and how many it rejected with GafitInputError
TRIED: Counter[str] = Counter()
REJECTED: Counter[str] = Counter()
#: wild parameter vectors scored, GA runs with overflowing bounds
SCORED: Counter[str] = Counter()
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def examples(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        database=None,  # no .hypothesis folder in the work tree; failures print their example
        derandomize=not os.environ.get("GAFIT_FUZZ_RANDOM"),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=NO_SHRINK if os.environ.get("GAFIT_FUZZ_NO_SHRINK") else tuple(Phase),
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad_input")


@contextlib.contextmanager
def fresh(work: Path):
    """A new empty folder for one example, removed afterwards."""
    d = Path(tempfile.mkdtemp(dir=work))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def check_message(err: GafitInputError, *paths: Path | str) -> None:
    """One line, starting with the name of (one of) the file(s) at fault."""
    msg = str(err)
    assert len(msg.splitlines()) == 1, f"message is not one line: {msg!r}"
    assert any(msg.startswith(str(p)) for p in paths), f"message does not name {paths}: {msg!r}"


def attempt(reader: str, call, *paths: Path | str, count: bool = True):
    """``call()``'s result, or None when it raised a proper GafitInputError; counts the input."""
    TRIED[reader] += count
    try:
        return call()
    except GafitInputError as err:
        REJECTED[reader] += count
        check_message(err, *paths)
        return None


def check_potential(pot: Potential) -> None:
    """A potential that was read without error is usable: finite values, positive finite cutoffs."""
    assert np.all(np.isfinite(pot.values)), pot.named_values()
    for form in pot.forms:
        assert np.isfinite(form.cutoff) and form.cutoff > 0, form.cutoff


def check_refset(ref: ReferenceSet) -> None:
    assert len(ref) > 0
    for s in ref:
        assert np.all(np.isfinite(s.atoms.positions))
        for x in (s.energy, s.forces, s.stress):
            assert x is None or np.all(np.isfinite(x))
        assert np.isfinite(s.weight) and s.weight >= 0


def written(refset: ReferenceSet, path: Path) -> bytes:
    write_reference(refset, path)
    return path.read_bytes()


# ---------------------------------------------------------------------------- reference data


@examples(500)
@given(data=st.data())
def test_csv_per_atom(work, data):
    refset = data.draw(reference_sets())
    with fresh(work) as d:
        path = d / "data.csv"
        path.write_bytes(data.draw(mutated(written(refset, path), CSV_OPS)))
        ref = attempt("CSV per-atom layout", lambda: read_reference(path), path)
        if ref is not None:
            check_refset(ref)


@examples(300)
@given(data=st.data())
def test_csv_binding_curve(work, data):
    with fresh(work) as d:
        path = d / "curve.csv"
        path.write_bytes(data.draw(mutated(data.draw(binding_curve_csv()), CSV_OPS)))
        dimer = data.draw(st.none() | st.just(("Cu", "Cu")))
        ref = attempt("CSV binding-curve layout", lambda: read_reference(path, dimer_species=dimer), path)
        if ref is not None:
            check_refset(ref)


@examples(300)
@given(data=st.data())
def test_extxyz(work, data):
    refset = data.draw(reference_sets(partial_pbc=True))
    with fresh(work) as d:
        path = d / data.draw(st.sampled_from(["data.extxyz", "data.xyz"]))
        path.write_bytes(data.draw(mutated(written(refset, path))))
        ref = attempt("extxyz/ASE", lambda: read_reference(path), path)
        if ref is not None:
            check_refset(ref)


def test_valid_files_read_back(work):
    """The generators make valid files: unmutated, every reader takes them (a few draws)."""

    @examples(20)
    @given(refset=reference_sets(partial_pbc=True), curve=binding_curve_csv(), pot=potentials())
    def check(refset, curve, pot):
        with fresh(work) as d:
            csv_set = ReferenceSet([s for s in refset if s.atoms.pbc.all() or not s.atoms.pbc.any()])
            if len(csv_set):
                write_reference(csv_set, d / "a.csv")
                assert len(read_reference(d / "a.csv")) == len(csv_set)
            write_reference(refset, d / "a.extxyz")
            assert len(read_reference(d / "a.extxyz")) == len(refset)
            (d / "c.csv").write_bytes(curve)
            assert len(read_reference(d / "c.csv")) == curve.count(b"\n") - 1
            save_potential(pot, d / "p.json")
            write_lammps(pot, d / "lmp")
            for p in (load_potential(d / "p.json"), load_potential(d / "lmp" / "pair.lmp")):
                np.testing.assert_array_equal(p.values, pot.values)

    check()


# --------------------------------------------------------------------------- special files

#: file suffix (or reader) -> (reader, label of its row in the summary)
READERS = {
    "csv": lambda p: read_reference(p),
    "extxyz": lambda p: read_reference(p),
    "xyz": lambda p: read_reference(p),
    "traj": lambda p: read_reference(p),
    "toml": load_config,
    "json": load_potential,
    "lmp": load_potential,
    "tersoff": load_potential,
    "tersoff-read_file": Tersoff.read_file,
}


LABELS = {"csv": "CSV (any layout)", "extxyz": "extxyz/ASE", "xyz": "extxyz/ASE",
          "traj": "extxyz/ASE", "toml": "TOML config", "json": "potential.json", "lmp": "pair.lmp",
          "tersoff": ".tersoff", "tersoff-read_file": ".tersoff"}


def _reader_and_path(d: Path, name: str):
    suffix = "tersoff" if name == "tersoff-read_file" else name
    return READERS[name], d / f"input.{suffix}"


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "nul", "bom", "latin-1"])
def test_special_files(work, name, kind):
    """Missing files, folders, empty files, NUL bytes and non-UTF-8 text: one clean error."""
    with fresh(work) as d:
        reader, path = _reader_and_path(d, name)
        if kind == "directory":
            path.mkdir()
        elif kind != "missing":
            path.write_bytes({"empty": b"", "nul": b"\x00" * 64, "bom": b"\xef\xbb\xbf",
                              "latin-1": "# caf\xe9 \xc5 = 1\n".encode("latin-1")}[kind])
        result = attempt(LABELS[name], lambda: reader(path), path)
        assert result is None, f"{kind} {path.name} was accepted"


@examples(150)
@given(name=st.sampled_from(sorted(READERS)), content=st.binary(max_size=400), data=st.data())
def test_binary_junk(work, name, content, data):
    """Random bytes under every reader's file name."""
    with fresh(work) as d:
        reader, path = _reader_and_path(d, name)
        if name == "lmp" and data.draw(st.booleans()):
            path = d / "pair"  # pair.lmp is also recognised by its name
        path.write_bytes(content)
        result = attempt(LABELS[name], lambda: reader(path), path)
        if isinstance(result, Potential):
            check_potential(result)


# ------------------------------------------------------------------ regressions (bugs found)

SI = "Si Si Si 3.0 1.0 1.3258 4.8381 2.0417 0.0 22.956 0.33675 1.3258 95.373 3.0 0.2 3.2394 {A}\n"
MORSE = "# gafit species: {sp}\n{e0}pair_style morse {cut}\npair_coeff {ij} 0.3 1.3 2.8\n"
XYZ = '1\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 {info} pbc="T T T"\nCu {pos}\n'
CFG = '[data]\ntrain = "x.csv"\n'
#: inputs that crashed, hung or were accepted before the readers were fixed: (file name, content)
REGRESSIONS = [
    ("a.extxyz", "99999999999999999999\nx\nCu 0 0 0\n"),  # ASE read 10**20 lines: hung
    ("e.extxyz", "1\nProperties=species:S:1:pos:R:3000000000\nCu 0 0 0\n"),  # ASE took all memory
    ("b.extxyz", XYZ.format(info='stress="1 2 3"', pos="0 0 0")),  # ValueError in Structure
    ("c.extxyz", XYZ.format(info="energy=1", pos="nan 0 0")),  # NaN position accepted
    ("d.csv", 'structure,species,x,y,z\na,Cu,"1\n2",0,0\n'),  # message of two lines
    ("e.csv", "structure,species,x,y,z,q\u2028q\na,Cu,0,0,0,1\n"),  # message of two lines
    ("a.json", "9" * 5000),  # ValueError: more than 4300 digits
    ("b.json", "[" * 100000),  # RecursionError
    ("c.json", '{"species": 5, "forms": []}'),  # TypeError
    ("d.json", '{"species": ["Cu"], "forms": [{"form": "morse", "cutoff": NaN, "parameters": '
               '{"Cu-Cu.D0": 1, "Cu-Cu.alpha": 1, "Cu-Cu.r0": 1}}]}'),  # NaN cutoff accepted
    ("e.json", '{"species": ["Cu"], "forms": [{"form": "morse", "cutoff": "6", "parameters": '
               '{"Cu-Cu.D0": "x", "Cu-Cu.alpha": 1, "Cu-Cu.r0": 1}}]}'),  # ValueError
    ("f.json", '{"species": ["Cu"], "forms": [{"form": "mors\\ne"}]}'),  # message of two lines
    ("g.json", b"\xff{}"),  # UnicodeDecodeError
    ("a.toml", "a = " + "9" * 5000),  # ValueError: more than 4300 digits
    ("b.toml", "a = " + "[" * 100000),  # RecursionError
    ("c.toml", "data = 5"),  # TypeError
    ("d.toml", '[data]\ntrain = "~nosuchuser/x.csv"\n'),  # RuntimeError from expanduser
    ("e.toml", CFG + "[weights]\nenergy = 1" + "0" * 400),  # OverflowError
    ("f.toml", CFG + "[weights]\nenergy = nan"),  # NaN weight accepted
    ("g.toml", CFG + "[ga]\nhall_of_fame = 0"),  # accepted, then IndexError in the GA
    ("h.toml", CFG + "[ga]\ntournament = 0"),  # accepted, then ValueError in the GA
    ("i.toml", CFG + "[refine]\nmax_evaluations = 0"),  # accepted, then ValueError in scipy
    ("j.toml", CFG + '[potential]\nform = "lj"'),  # error without the file's name
    ("k.toml", CFG + "[potential]\nspecies = []"),  # error without the file's name
    ("l.toml", CFG + "[potential]\ncutoff = nan"),  # NaN cutoff accepted
    ("m.toml", CFG + "[data]\nsplit_seed = -1"),  # accepted, then ValueError in numpy
    ("n.toml", '"a\\nb" = 1'),  # message of two lines
    ("pair.lmp", MORSE.format(sp="Cu", e0="", cut=6, ij='1 1 "0.3')),  # ValueError from shlex
    ("pair1.lmp", MORSE.format(sp="Cu", e0="", cut=6, ij="0*9 1")),  # IndexError
    ("pair2.lmp", MORSE.format(sp="Cu", e0="", cut="nan", ij="1 1")),  # NaN cutoff accepted
    ("pair3.lmp", MORSE.format(sp="Cu Cu", e0="", cut=6, ij="1 1")),  # error without file name
    ("pair4.lmp", MORSE.format(sp="", e0="", cut=6, ij="1 1")),  # error without file name
    ("pair5.lmp", MORSE.format(sp="Cu", e0="# gafit E0: Cu=inf\n", cut=6, ij="1 1")),  # accepted
    # the message named only the missing file, not the line of pair.lmp that names it
    ("pair6.lmp", "# gafit species: Si\npair_style tersoff\npair_coeff * * 13510 Si\n"),
    ("a.tersoff", SI.format(A="1e999")),  # infinite A accepted
    ("b.tersoff", SI.format(A="9" * 400)),  # infinite A accepted
]
REGRESSION_READERS = {".extxyz": read_reference, ".csv": read_reference, ".json": load_potential,
                      ".toml": load_config, ".lmp": load_potential, ".tersoff": load_potential}


@pytest.mark.parametrize(("name", "content"), REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_regressions(work, name, content):
    with fresh(work) as d:
        path = d / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        label = LABELS[path.suffix.lstrip(".")]
        result = attempt(label, lambda: REGRESSION_READERS[path.suffix](path), path)
        assert result is None, f"{name} was accepted"


# -------------------------------------------------------------------------- potential files


@examples(300)
@given(data=st.data())
def test_pair_lmp(work, data):
    """pair.lmp (Morse, Buckingham, or Tersoff with its .tersoff beside it) written by gafit."""
    pot = data.draw(potentials())
    with fresh(work) as d:
        pair = write_lammps(pot, d)
        files = sorted(d.iterdir())
        target = data.draw(st.sampled_from(files))
        target.write_bytes(data.draw(mutated(target.read_bytes())))
        result = attempt("pair.lmp", lambda: load_potential(pair), *files)
        if result is not None:
            check_potential(result)


def tersoff_seeds() -> list[bytes]:
    seeds = [(ROOT / "potentials" / "Si_Tersoff_1988.tersoff").read_bytes()]
    try:
        from gafit.lammps.runner import potentials_dir

        lmp = potentials_dir()
        seeds += [(lmp / n).read_bytes() for n in ("Si.tersoff", "SiC.tersoff", "GaN.tersoff")]
    except (RuntimeError, OSError):  # pragma: no cover - LAMMPS not installed
        pass
    return seeds


TERSOFF_SEEDS = tersoff_seeds()


@examples(300)
@given(data=st.data())
def test_tersoff_file(work, data):
    """LAMMPS .tersoff files (real ones and gafit-written), through load_potential and read_file."""
    with fresh(work) as d:
        path = d / "X.tersoff"
        if data.draw(st.booleans()):
            seed = data.draw(st.sampled_from(TERSOFF_SEEDS))
        else:
            pot = data.draw(potentials(forms=("tersoff",)))
            pot.forms[0].write_file(pot.values[: pot.forms[0].n_params], path)
            seed = path.read_bytes()
        path.write_bytes(data.draw(mutated(seed)))
        for k, reader in enumerate((load_potential, Tersoff.read_file)):  # one file: counted once
            result = attempt(".tersoff", lambda r=reader: r(path), path, count=k == 0)
            if result is not None:
                check_potential(result)


@examples(300)
@given(data=st.data())
def test_potential_json_text(work, data):
    """potential.json damaged as text."""
    pot = data.draw(potentials())
    with fresh(work) as d:
        path = d / "potential.json"
        save_potential(pot, path)
        path.write_bytes(data.draw(mutated(path.read_bytes())))
        result = attempt("potential.json", lambda: load_potential(path), path)
        if result is not None:
            check_potential(result)


@examples(300)
@given(data=st.data())
def test_potential_json_tree(work, data):
    """potential.json damaged as a tree: keys deleted, renamed or added, values of any type."""
    pot = data.draw(potentials())
    seed = json.loads((ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json").read_text())
    tree = data.draw(st.sampled_from([pot.to_dict(), seed]))
    with fresh(work) as d:
        path = d / "potential.json"
        path.write_text(json.dumps(data.draw(mutated_tree(tree))))
        result = attempt("potential.json", lambda: load_potential(path), path)
        if result is not None:
            check_potential(result)


# ---------------------------------------------------------------------------------- config

CONFIG_SEEDS = {name: (ROOT / "examples" / name).read_bytes()
                for name in ("cu_morse.toml", "cu_dimer_morse.toml")}
CONFIG_SEEDS["Si_gpuga_fit.toml"] = (ROOT / "potentials" / "Si_gpuga_fit.toml").read_bytes()
DIMER_CSV = (ROOT / "data" / "Cu2_EMT_binding_curve.csv").read_bytes()

#: a small valid config (fits in well under a second on the binding curve in its folder)
SMALL_CONFIG = {
    "data": {"train": "curve.csv"},
    "potential": {"form": "morse", "species": ["Cu"], "cutoff": 6.0,
                  "parameters": {"Cu-Cu.D0": [0.5, 6.0], "Cu-Cu.alpha": [0.5, 4.0],
                                 "Cu-Cu.r0": [1.5, 3.5]}},
    "weights": {"energy": 1.0},
    "ga": {"population": 4, "generations": 2, "seed": 1},
    "refine": {"enabled": True, "starts": 1, "max_evaluations": 10},
}

#: values that make sense somewhere in a config, to get past the first check more often
PLAUSIBLE = st.sampled_from([
    "curve.csv", "missing.csv", "morse", "buckingham", "tersoff", "lennard-jones", ["Cu"], ["Cu", "Cu"],
    [], ["Xx"], 6.0, 0.0, -1.0, 1e999, 0, 1, 2, 3, -1, 10**30, 0.5, 1.5, True, False, "auto",
    [0.1, 1.0], [1.0, 0.1], [0.0, 1e308], [float("nan"), 1.0], "=Cu-Cu.D0", "=Cu-Cu.alpha",
    {"Cu-Cu.D0": [0.1, 1.0]}, {"Cu-Cu-Cu.D0": 1.0}, {"Cu.E0": "auto"}, {"Cu.E0": [1.0, -1.0]},
    {"Cu-Cu.alpha": "=Cu-Cu.alpha"}, {"Cu-Cu.D0": "=Cu-Cu.r0", "Cu-Cu.r0": "=Cu-Cu.D0"},
    {"reference": "missing.yaml"}, [{"reference": "curve.csv"}], "GX", "",
])
CONFIG_KEYS = st.sampled_from([
    "data", "potential", "weights", "ga", "refine", "phonons", "train", "validation",
    "validation_fraction", "validation_config_types", "split_seed", "form", "species", "cutoff",
    "start", "parameters", "energy", "forces", "stress", "virial", "population", "generations",
    "seed", "stall", "target_loss", "max_time", "crossover_prob", "mutation_prob", "eta_crossover",
    "eta_mutation", "tournament", "elite", "hall_of_fame", "enabled", "starts", "max_evaluations",
    "reference", "qpoints", "weight", "displacement", "equilibrium_weight", "Cu-Cu.D0", "Cu.E0",
    "unknown", "Data", "ga ",
]) | st.text(max_size=6)


def random_config(data) -> dict:
    """SMALL_CONFIG with keys deleted, renamed, added or given values of any (or a plausible) type."""
    values = PLAUSIBLE | TOML_VALUES
    return data.draw(mutated_tree(SMALL_CONFIG, values=values, keys=CONFIG_KEYS))


@examples(400)
@given(data=st.data())
def test_config_random_documents(work, data):
    """Valid TOML documents with wrong types, unknown keys, missing tables."""
    table = random_config(data)
    assume(isinstance(table, dict))  # a TOML document is a table
    with fresh(work) as d:
        path = d / "fit.toml"
        text = toml_dumps(table)
        assert tomllib.loads(text).keys() == table.keys()  # the generator writes valid TOML
        path.write_text(text, encoding="utf-8")
        attempt("TOML config", lambda: load_config(path), path)


@examples(300)
@given(data=st.data())
def test_config_mutated_text(work, data):
    """The example configs (and a small one) damaged as text."""
    seed = data.draw(st.sampled_from([*CONFIG_SEEDS.values(), toml_dumps(SMALL_CONFIG).encode()]))
    with fresh(work) as d:
        path = d / "fit.toml"
        path.write_bytes(data.draw(mutated(seed)))
        attempt("TOML config", lambda: load_config(path), path)


# ------------------------------------------------------------------ nothing written is lost


def run_cli(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, err.getvalue()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check_cli_error(rc: int, stderr: str) -> None:
    assert rc == 2, stderr
    assert stderr.startswith("gafit: error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


@examples(200)
@given(data=st.data())
def test_convert_keeps_existing_output(work, data):
    """``gafit convert IN OUT`` onto an existing OUT: a failure leaves OUT byte-identical."""
    with fresh(work) as d:
        kind = data.draw(st.sampled_from(["csv", "curve", "extxyz"]))
        src = d / ("in.extxyz" if kind == "extxyz" else "in.csv")
        if kind == "curve":
            seed = data.draw(binding_curve_csv())
        else:
            seed = written(data.draw(reference_sets(partial_pbc=kind == "extxyz")), src)
        src.write_bytes(data.draw(mutated(seed, CSV_OPS if kind != "extxyz" else ())))
        out = d / data.draw(st.sampled_from(["out.csv", "out.extxyz", "out.xyz", "out.txt", "out"]))
        old = b"old contents\n"
        if data.draw(st.booleans()) and out.suffix:
            out.write_bytes(old)
        elif data.draw(st.booleans()):
            out.mkdir()  # OUT is a folder
        before = snapshot(d)
        TRIED["gafit convert IN OUT"] += 1
        rc, stderr = run_cli(["convert", str(src), str(out)])
        if rc == 0:
            assert out.is_file() and len(read_reference(out)) > 0
            return
        REJECTED["gafit convert IN OUT"] += 1
        check_cli_error(rc, stderr)
        assert snapshot(d) == before, "a failed convert changed files"


def test_write_reference_failure_keeps_old_file(work, monkeypatch):
    """write_reference errors, before or in the middle of writing, leave the old file alone."""
    import ase.io

    import gafit.io.csv_format as csv_format

    good = ReferenceSet([Structure(bulk("Cu", "fcc", a=3.6) * (2, 1, 1), energy=-7.0,
                                   forces=np.zeros((2, 3)), stress=np.zeros(6), name="b"),
                         Structure(Atoms("Cu2", positions=[[0, 0, 0], [2.3, 0, 0]]), energy=-1.0)])
    slab = bulk("Cu", "fcc", a=3.6, cubic=True)
    slab.pbc = (True, True, False)
    partial = ReferenceSet([Structure(slab, energy=1.0)])

    def fail_after(n, real):
        calls = [0]

        def f(*args, **kw):
            calls[0] += 1
            if calls[0] > n:
                raise OSError(28, "No space left on device")
            return real(*args, **kw)
        return f

    def half_written(tmp, images, **kw):
        Path(tmp).write_text("3\npartial")
        raise OSError(28, "No space left on device")

    cases = [
        ("out.csv", partial, None),
        ("out.csv", ReferenceSet([]), None),
        ("out.extxyz", ReferenceSet([]), None),
        ("out.traj", good, None),
        ("out.csv", good, lambda: monkeypatch.setattr(csv_format, "_fmt", fail_after(5, csv_format._fmt))),
        ("out.extxyz", good, lambda: monkeypatch.setattr(ase.io, "write", half_written)),
    ]
    for name, refset, patch in cases:
        with fresh(work) as d:
            path = d / name
            path.write_bytes(b"precious\n")
            if patch is not None:
                patch()
            TRIED["write_reference"] += 1
            with pytest.raises(GafitInputError) as err:
                write_reference(refset, path)
            check_message(err.value, path)
            REJECTED["write_reference"] += 1
            monkeypatch.undo()
            assert path.read_bytes() == b"precious\n"
            assert sorted(p.name for p in d.iterdir()) == [name], "a temporary file was left"


def _small_enough(path: Path) -> bool:
    """Whether a config that loads runs in well under a second (else the example is skipped)."""
    try:
        cfg = load_config(path)
    except GafitInputError:
        return True
    ga = cfg.ga
    refine_work = cfg.refine.starts * cfg.refine.max_evaluations if cfg.refine.enabled else 0
    return (ga.population * (ga.generations + 1) <= 40 and refine_work <= 40
            and cfg.data.validation is None and not getattr(ga, "scheduler", "")
            and getattr(ga, "workers", 1) == 1 and not getattr(ga, "memetic_every", 0)
            and not cfg.phonons)


@examples(60)
@given(data=st.data())
def test_fit_bad_config_keeps_output(work, data):
    """``gafit fit`` with a bad config into an existing output folder touches none of its files."""
    with fresh(work) as d:
        (d / "curve.csv").write_bytes(DIMER_CSV)
        cfg = d / "fit.toml"
        table = random_config(data)
        if isinstance(table, dict) and data.draw(st.booleans()):
            cfg.write_text(toml_dumps(table), encoding="utf-8")
        else:
            cfg.write_bytes(data.draw(mutated(toml_dumps(SMALL_CONFIG).encode())))
        assume(_small_enough(cfg))
        out = d / "run"
        (out / "lammps").mkdir(parents=True)
        for name in ("potential.json", "lammps/pair.lmp", "log.csv", "parameters.csv", "summary.json"):
            (out / name).write_text(f"old {name}\n")
        before = snapshot(out)
        TRIED["gafit fit CONFIG --out DIR"] += 1
        rc, stderr = run_cli(["fit", str(cfg), "--out", str(out), "--quiet"])
        if rc == 0:
            assert load_potential(out / "potential.json")
            return
        REJECTED["gafit fit CONFIG --out DIR"] += 1
        check_cli_error(rc, stderr)
        assert snapshot(out) == before, "a failed fit changed the output folder"


# ------------------------------------------------------------- wild parameter vectors score bad

WILD = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-308, 5e-324, 1e300, -1e300, 1e308, -1e308,
                     float("nan"), float("inf"), float("-inf"), 1e10, -1e10, 700.0, 710.0, 3.0]),
    st.floats(),
)


def _objective(form: str, spec: dict | None = None) -> Objective:
    cu = bulk("Cu", "fcc", a=3.6)
    pair = bulk("Cu", "fcc", a=3.6, cubic=True)
    pair.symbols[1] = "Ag"
    pair.rattle(0.05, seed=1)
    dimer = Atoms("CuAg", positions=[[0, 0, 0], [2.4, 0, 0]])
    trimer = Atoms("Cu3", positions=[[0, 0, 0], [2.4, 0, 0], [1.0, 2.0, 0.0]])
    refset = ReferenceSet([
        Structure(cu, energy=-3.5, forces=np.zeros((1, 3)), stress=np.full(6, 0.01)),
        Structure(pair, energy=-14.0, forces=np.full((4, 3), 0.1), stress=np.zeros(6)),
        Structure(dimer, energy=-1.0, forces=np.zeros((2, 3))),
        Structure(trimer, energy=-2.0, forces=np.zeros((3, 3)), weight=2.0),
    ])
    from gafit.forms import get_form

    pot = Potential(["Cu", "Ag"], [get_form(form)(["Cu", "Ag"], 5.0)])
    return Objective(pot, build_space(pot, spec), refset,
                     Weights(energy=1, forces=1, stress=1, virial=1))


OBJECTIVES = {form: _objective(form) for form in ("morse", "buckingham", "tersoff")}


def _refine_wide(d0: float):
    """Refinement of Morse with D0 in [0, 1e300], from D0 = d0."""
    obj = _objective("morse", {f"{p}.D0": [0.0, 1e300] for p in ("Cu-Cu", "Cu-Ag", "Ag-Ag")})
    x0 = obj.space.start()
    x0[0] = d0
    return refine(obj.residuals, x0, obj.space.lower, obj.space.upper, 10)


def _refine_from_e0(e0: float):
    """Refinement of Morse with Cu.E0 in [-1e300, 1e300], from Cu.E0 = e0 (residuals ~ e0)."""
    obj = _objective("morse", {"Cu.E0": [-1e300, 1e300]})
    x0 = obj.space.start()
    x0[obj.space.free.index("Cu.E0")] = e0
    return refine(obj.residuals, x0, obj.space.lower, obj.space.upper, 10)


@pytest.mark.parametrize(("form", "name", "value"), [
    ("buckingham", "Cu-Cu.rho", 0.0),  # ZeroDivisionError in the numba kernel
    ("tersoff", "Cu-Cu-Cu.lambda3", 1e300),  # OverflowError of big**3 in radial_exp
])
def test_loss_regressions(form, name, value):
    """Vectors that crashed Objective.loss before (fixed in pair_kernel.py and tersoff.py)."""
    obj = OBJECTIVES[form]
    x = obj.space.start()[None]
    x[0, obj.space.free.index(name)] = value
    assert not np.isnan(obj.loss(x)).any()


@pytest.mark.parametrize("form", list(OBJECTIVES))
@examples(100)
@given(data=st.data())
def test_loss_of_wild_parameters(form, data):
    """Objective.loss/residuals on huge, tiny, negative, NaN and infinite vectors: never raise, never
    NaN; a bad vector gets a finite (BAD_RESIDUAL) or infinite loss."""
    obj = OBJECTIVES[form]
    n, b = obj.space.n_free, data.draw(st.integers(1, 4))
    x = np.array(data.draw(st.lists(WILD, min_size=n * b, max_size=n * b))).reshape(b, n)
    SCORED[f"wild parameter vectors, {form}"] += b
    loss = obj.loss(x)
    assert loss.shape == (b,) and not np.isnan(loss).any() and (loss >= 0).all(), loss
    r = obj.residuals(x)
    assert not np.isnan(r).any()


@pytest.mark.parametrize("form", list(OBJECTIVES))
@examples(8)
@given(data=st.data())
def test_ga_with_overflowing_bounds(form, data):
    """A GA and its refinement, with bounds where the energies overflow, complete."""
    obj = OBJECTIVES[form]
    pot = obj.potential
    lim = np.concatenate([f.hard_limits() for f in pot.forms])
    spec = {}
    for k, name in enumerate(pot.names[: len(lim)]):
        if name not in obj.space.free:
            continue
        lo = max(lim[k, 0], -1e300)
        edges = data.draw(st.lists(st.sampled_from([lo, 0.0, 1e-300, 1.0, 1e3, 1e100, 1e300])
                                   .filter(lambda v, lo=lo, hi=lim[k, 1]: lo <= v <= hi),
                                   min_size=2, max_size=2, unique=True))
        spec[name] = sorted(edges)
    spec["Cu.E0"] = [-1e300, 1e300]
    obj = _objective(form, spec)
    space = obj.space
    SCORED[f"GA + refinement runs with overflowing bounds, {form}"] += 1
    ga = run_ga(lambda u: obj.loss(space.from_unit(u)), space.n_free,
                GASettings(population=6, generations=2, seed=data.draw(st.integers(0, 99))))
    assert not np.isnan(ga.best_loss)
    res = refine(obj.residuals, space.from_unit(ga.best_u), space.lower, space.upper, 10)
    assert not np.isnan(res.loss)


@pytest.mark.parametrize("d0", [10.0, 1e10, 1e100, 1e299])
def test_refine_with_overflowing_bounds(d0):
    """Refinement with very wide bounds (D0 in [0, 1e300]) completes (scipy's trf overflowed with
    x_scale = 1e300)."""
    assert not np.isnan(_refine_wide(d0).loss)


@pytest.mark.parametrize("e0", [1e10, 1e150, 1e200, 3e299])
def test_refine_from_huge_residuals(e0):
    """Refinement from a start whose residuals are finite but huge completes (the cost overflowed
    inside scipy's trf)."""
    assert not np.isnan(_refine_from_e0(e0).loss)


def test_refine_with_bounds_wider_than_floats():
    """Bounds [-1e308, 1e308] (their width overflows): a config is told so; refinement given such
    bounds directly still completes."""
    with pytest.raises(GafitInputError, match="finite width"):
        _objective("morse", {"Cu.E0": [-1e308, 1e308]})
    obj = _objective("morse", {"Cu.E0": [-1.0, 1.0]})
    k = obj.space.free.index("Cu.E0")
    lower, upper = obj.space.lower.copy(), obj.space.upper.copy()
    lower[k], upper[k] = -1e308, 1e308
    res = refine(obj.residuals, obj.space.start(), lower, upper, 10)
    assert not np.isnan(res.loss)


def test_fit_with_overflowing_bounds(work):
    """A whole ``gafit fit`` whose bounds make exp() overflow finishes and writes its outputs."""
    from gafit.config import parse_config
    from gafit.fitting import Fit

    with fresh(work) as d:
        (d / "curve.csv").write_bytes(DIMER_CSV)
        table = json.loads(json.dumps(SMALL_CONFIG))
        table["potential"]["parameters"] = {"Cu-Cu.D0": [1e-300, 1e300], "Cu-Cu.alpha": [1.0, 1e3],
                                            "Cu-Cu.r0": [0.0, 1e300], "Cu.E0": [-1e300, 1e300]}
        SCORED["gafit fit runs with overflowing bounds"] += 1
        result = Fit.from_config(parse_config(table, d / "fit.toml")).run(d / "run", quiet=True)
        assert not np.isnan(result.loss)
        assert load_potential(d / "run" / "potential.json").n_params == 4


# -------------------------------------------------------------------------------- summary


def summary_lines() -> list[str]:
    """How many malformed inputs each reader was given and how many parameter vectors were scored
    (printed after the run by conftest's pytest_terminal_summary)."""
    rows = [(f"{name}", f"{n}", f"{REJECTED[name]}", f"{n - REJECTED[name]}")
            for name, n in sorted(TRIED.items())]
    total = sum(TRIED.values())
    rejected = sum(REJECTED.values())
    rows.append(("TOTAL malformed inputs", f"{total}", f"{rejected}", f"{total - rejected}"))
    width = max(len(name) for name in [*(r[0] for r in rows), *SCORED])
    lines = ["", f"{'malformed inputs tried':<{width}}  {'tried':>6}  {'GafitInputError':>15}  "
             f"{'accepted':>8}"]
    lines += [f"{a:<{width}}  {b:>6}  {c:>15}  {d:>8}" for a, b, c, d in rows]
    lines += ["", f"{'parameter vectors scored':<{width}}  {'tried':>6}"]
    lines += [f"{name:<{width}}  {n:>6}" for name, n in sorted(SCORED.items())]
    return lines


# ------------------------------------------ file-system faults (issue 11, class 2): one line, no loss


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A folder with a small config, its data, a finished fit in run/ (with report) and the inputs
    of the other commands: a potential, an extxyz data set and a Cu crystal."""
    d = tmp_path_factory.mktemp("faults")
    (d / "curve.csv").write_bytes(DIMER_CSV)
    (d / "fit.toml").write_text(toml_dumps(SMALL_CONFIG), encoding="utf-8")
    rc, stderr = run_cli(["fit", str(d / "fit.toml"), "--out", str(d / "run"), "--quiet"])
    assert rc == 0, stderr
    write_reference(ReferenceSet([Structure(bulk("Cu", "fcc", a=3.6) * (2, 1, 1), energy=-7.0,
                                            forces=np.zeros((2, 3)), stress=np.zeros(6))]),
                    d / "data.extxyz")
    bulk("Cu", "fcc", a=3.6).write(d / "cu.vasp", format="vasp")
    shutil.copy(ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json", d / "cu.json")
    return d


@contextlib.contextmanager
def inputs_of(finished_run: Path, work: Path):
    """A fresh copy of the finished run's folder to damage."""
    with fresh(work) as d:
        shutil.copytree(finished_run, d, dirs_exist_ok=True)
        yield d


#: commands that write, each with an earlier output of its own already in place
WRITERS = {
    "fit": lambda d: ["fit", str(d / "fit.toml"), "--out", str(d / "new"), "--quiet"],
    "fit --resume": lambda d: ["fit", "--resume", str(d / "run"), "--quiet", "--no-report"],
    "evaluate --out": lambda d: ["evaluate", str(d / "run" / "potential.json"), str(d / "data.extxyz"),
                                 "--out", str(d / "run" / "log.csv")],
    "export": lambda d: ["export", str(d / "run" / "potential.json"), "--lammps", str(d / "run" / "lammps")],
    "report": lambda d: ["report", str(d / "run")],
    "convert": lambda d: ["convert", str(d / "data.extxyz"), str(d / "run" / "log.csv")],
    "phonons": lambda d: ["phonons", str(d / "cu.json"), "--structure", str(d / "cu.vasp"),
                          "--supercell", "1", "1", "1", "--npoints", "3", "--out", str(d / "run")],
    "properties --out": lambda d: ["properties", str(d / "cu.json"), "--structure",
                                   str(d / "cu.vasp"), "--out", str(d / "run" / "summary.json")],
}


def _raise(code: int):
    def f(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[0]) if args else None)
    return f


def _read_only(monkeypatch) -> None:
    """The file system turns read-only: nothing can be created, access() and statvfs() say so."""
    real_access, real_statvfs = os.access, os.statvfs
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK
                        else real_access(p, mode, **kw))
    monkeypatch.setattr(os, "statvfs", lambda p: type("V", (), {"f_flag": os.ST_RDONLY
                                                                 | real_statvfs(p).f_flag})())
    for name in ("mkdir", "replace", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, _raise(errno.EROFS))
    monkeypatch.setattr(tempfile, "mkstemp", _raise(errno.EROFS))


def _disk_full(monkeypatch) -> None:
    """The disk is full: writing a file's contents or moving it into place fails."""
    monkeypatch.setattr(Path, "write_text", _raise(errno.ENOSPC))
    monkeypatch.setattr(Path, "write_bytes", _raise(errno.ENOSPC))
    monkeypatch.setattr(os, "replace", _raise(errno.ENOSPC))


def _no_permission(monkeypatch) -> None:
    """A folder without write permission (root ignores permission bits, so simulated)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK
                        else real_access(p, mode, **kw))
    for name in ("mkdir", "replace"):
        monkeypatch.setattr(os, name, _raise(errno.EACCES))
    monkeypatch.setattr(tempfile, "mkstemp", _raise(errno.EACCES))


FAULTS = {"read-only": _read_only, "disk full": _disk_full, "no permission": _no_permission}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("command", WRITERS)
def test_write_faults_one_line_nothing_lost(work, finished_run, monkeypatch, command, fault):
    """Every command that writes, on a read-only, full or forbidden file system: one line naming a
    path and the reason, exit 2, and every file already there byte-identical (no temporary files)."""
    with inputs_of(finished_run, work) as d:
        before = snapshot(d)
        argv = WRITERS[command](d)
        FAULTS[fault](monkeypatch)
        TRIED[f"gafit {command} on a faulty file system"] += 1
        try:
            rc, stderr = run_cli(argv)
        finally:
            monkeypatch.undo()
        check_cli_error(rc, stderr)
        REJECTED[f"gafit {command} on a faulty file system"] += 1
        assert str(d) in stderr, stderr
        assert any(w in stderr for w in ("read-only", "no space", "permission")), stderr
        assert snapshot(d) == before, "a failed write changed files"


#: output paths refused before any work: (command line, words the message must hold)
BAD_OUTPUTS = {
    "--out ''": (lambda d: ["fit", str(d / "fit.toml"), "--out", ""], "give a folder name"),
    "--out a file": (lambda d: ["fit", str(d / "fit.toml"), "--out", str(d / "curve.csv")],
                     "not a folder"),
    "--out below a file": (lambda d: ["fit", str(d / "fit.toml"), "--out", str(d / "curve.csv" / "r")],
                           "is a file"),
    "--out /dev/null": (lambda d: ["fit", str(d / "fit.toml"), "--out", os.devnull], "not a folder"),
    "--out 300 characters": (lambda d: ["fit", str(d / "fit.toml"), "--out", str(d / ("r" * 300))],
                             "bytes"),
    "fit into a finished run": (lambda d: ["fit", str(d / "fit.toml"), "--out", str(d / "run")],
                                "--overwrite"),
    "fit --overwrite of its own start file": (
        lambda d: ["fit", str(d / "start.toml"), "--out", str(d / "run"), "--overwrite"], "input"),
    "evaluate --out its data": (lambda d: ["evaluate", str(d / "run" / "potential.json"),
                                           str(d / "data.extxyz"), "--out", str(d / "data.extxyz")],
                                "input"),
    "evaluate --out its potential": (lambda d: ["evaluate", str(d / "run" / "potential.json"),
                                                str(d / "data.extxyz"), "--out",
                                                str(d / "run" / "potential.json")], "input"),
    "evaluate --config --out its training data": (
        lambda d: ["evaluate", str(d / "run" / "potential.json"), "--config", str(d / "fit.toml"),
                   "--out", str(d / "curve.csv")], "input"),
    "evaluate --out a folder": (lambda d: ["evaluate", str(d / "run" / "potential.json"),
                                           str(d / "data.extxyz"), "--out", str(d / "run")], "folder"),
    "convert onto its input": (lambda d: ["convert", str(d / "data.extxyz"), str(d / "data.extxyz")],
                               "input"),
    "export --lammps a file": (lambda d: ["export", str(d / "run" / "potential.json"), "--lammps",
                                          str(d / "curve.csv")], "not a folder"),
    "export over its own pair.lmp": (lambda d: ["export", str(d / "run" / "lammps" / "pair.lmp"),
                                                "--lammps", str(d / "run" / "lammps")], "input"),
    "phonons --out a file": (lambda d: ["phonons", str(d / "cu.json"), "--structure",
                                        str(d / "cu.vasp"), "--supercell", "1", "1", "1",
                                        "--out", str(d / "curve.csv")], "not a folder"),
    "phonons --out over its reference": (
        lambda d: ["phonons", str(d / "cu.json"), "--structure", str(d / "cu.vasp"),
                   "--supercell", "1", "1", "1", "--reference", str(d / "run" / "band.csv"),
                   "--out", str(d / "run")], "input"),
    "properties --out its structure": (lambda d: ["properties", str(d / "cu.json"),
                                                  "--structure", str(d / "cu.vasp"), "--out",
                                                  str(d / "cu.vasp")], "input"),
}


@pytest.mark.parametrize("case", BAD_OUTPUTS)
def test_bad_output_paths_refused(work, finished_run, case):
    """Outputs that cannot be written or would replace an input: one line before any work, and no
    file changes (before the checks --out "" wrote the run into the working folder and evaluate
    --out DATA overwrote the data)."""
    argv_of, words = BAD_OUTPUTS[case]
    with inputs_of(finished_run, work) as d:
        table = json.loads(json.dumps(SMALL_CONFIG))
        table["potential"]["start"] = "run/potential.json"
        (d / "start.toml").write_text(toml_dumps(table), encoding="utf-8")
        (d / "run" / "band.csv").write_text("q1,q2,q3,f1,f2,f3\n0,0,0,0,0,0\n")
        before = snapshot(d)
        cwd = os.getcwd()
        os.chdir(d)  # where --out "" would have written
        try:
            TRIED["output paths"] += 1
            rc, stderr = run_cli(argv_of(d))
        finally:
            os.chdir(cwd)
        check_cli_error(rc, stderr)
        REJECTED["output paths"] += 1
        assert words in stderr, stderr
        assert snapshot(d) == before


def test_fit_overwrite_replaces_only_the_earlier_fit(work, finished_run):
    """--overwrite removes the earlier fit's files (with its report/ and the parameter files its
    pair.lmp named) and keeps the user's own; without it a finished run is never touched."""
    with inputs_of(finished_run, work) as d:
        run = d / "run"
        (run / "notes.txt").write_text("mine\n")
        (run / "lammps" / "CuCuCu.tersoff").write_text("old\n")
        with (run / "lammps" / "pair.lmp").open("a") as f:
            f.write("pair_coeff * * CuCuCu.tersoff Cu\n")
        (run / "lammps" / "in.data").write_text("mine\n")
        rc, stderr = run_cli(["fit", str(d / "fit.toml"), "--out", str(run), "--quiet", "--no-report",
                              "--overwrite"])
        assert rc == 0, stderr
        assert not (run / "report").exists() and not (run / "lammps" / "CuCuCu.tersoff").exists()
        assert (run / "notes.txt").read_text() == "mine\n"
        assert (run / "lammps" / "in.data").read_text() == "mine\n"
        assert json.loads((run / "summary.json").read_text())["problem"] is None


def test_atomic_batch_keeps_the_old_set(work):
    """A failure in the middle of a batch of writes leaves every earlier file as it was and no
    temporary file behind; a batch that ends well replaces them all."""
    from gafit.io.atomic import atomic_batch, atomic_write_text

    with fresh(work) as d:
        for name in "abc":
            (d / name).write_text("old")
        with pytest.raises(GafitInputError, match="cannot"), atomic_batch():
            atomic_write_text(d / "a", "new")
            atomic_write_text(d / "b", "new")
            atomic_write_text(d / "c" / "x", "new")  # c is a file: cannot make the folder
        assert {p.name: p.read_text() for p in d.iterdir()} == {n: "old" for n in "abc"}
        with atomic_batch():
            atomic_write_text(d / "a", "new")
            assert (d / "a").read_text() == "old"  # renamed only when the batch ends
            atomic_write_text(d / "b", "new")
        assert {p.name: p.read_text() for p in d.iterdir()} == {"a": "new", "b": "new", "c": "old"}


# ------------------------------------- fits that cannot mean anything (issue 11, class 4)

#: config changes -> words of the one-line refusal; each fit is refused before it starts
MEANINGLESS = {
    "every weight zero": ({"weights": {"energy": 0.0, "forces": 0.0, "stress": 0.0}},
                          "every weight is zero"),
    "weights only for absent properties": ({"weights": {"energy": 0.0, "forces": 1.0, "stress": 1.0}},
                                           "no property with a nonzero weight"),
    "no targets at all": ({"data": {"train": "bare.extxyz"}}, "no property with a nonzero weight"),
    "every structure weight zero": ({"data": {"train": "zero.extxyz"}}, "weight 0"),
    "a weight of 1e300": ({"weights": {"energy": 1e300}}, "[weights] energy = 1e+300"),
    "a phonon weight of 1e300": ({"phonons": {"reference": "x.yaml", "weight": 1e300}},
                                 "[phonons] weight = 1e+300"),
}


@pytest.mark.parametrize("case", MEANINGLESS)
def test_meaningless_fits_refused(work, case):
    change, words = MEANINGLESS[case]
    with fresh(work) as d:
        (d / "curve.csv").write_bytes(DIMER_CSV)
        bare = Atoms("Cu2", positions=[[0, 0, 0], [2.3, 0, 0]])
        ase.io.write(d / "bare.extxyz", [bare, bare])
        write_reference(ReferenceSet([Structure(bare, energy=-1.0, weight=0.0)] * 2),
                        d / "zero.extxyz")
        table = json.loads(json.dumps(SMALL_CONFIG))
        for key, sub in change.items():
            table.setdefault(key, {}).update(sub)
        (d / "fit.toml").write_text(toml_dumps(table), encoding="utf-8")
        TRIED["meaningless fits"] += 1
        rc, stderr = run_cli(["fit", str(d / "fit.toml"), "--out", str(d / "run"), "--quiet"])
        # the data check's warnings may come first; the refusal is the last line
        check_cli_error(rc, stderr.splitlines(keepends=True)[-1])
        REJECTED["meaningless fits"] += 1
        assert words in stderr and str(d / "fit.toml") in stderr, stderr
        assert not (d / "run").exists() or not any((d / "run").iterdir())


def test_fit_without_finite_result_exits_3(work):
    """Bounds 1e-300..1e300 (the best candidate overflows): the fit says so and exits 3 (it
    "succeeded" with NaN RMSEs before); summary.json is strict JSON and holds the problem."""
    with fresh(work) as d:
        (d / "curve.csv").write_bytes(DIMER_CSV)
        table = json.loads(json.dumps(SMALL_CONFIG))
        table["potential"]["parameters"] = {k: [1e-300, 1e300] for k in
                                            ("Cu-Cu.D0", "Cu-Cu.alpha", "Cu-Cu.r0")}
        (d / "fit.toml").write_text(toml_dumps(table), encoding="utf-8")
        rc, stderr = run_cli(["fit", str(d / "fit.toml"), "--out", str(d / "run"), "--quiet",
                              "--no-report"])
        assert rc == 3, stderr
        assert stderr.startswith("gafit: error: ") and stderr.count("\n") == 1, stderr
        assert "not finite" in stderr
        summary = json.loads((d / "run" / "summary.json").read_text(),
                             parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
        assert "not finite" in summary["problem"]
        assert summary["rmse"]["train"]["energy"] is None


def test_summary_json_is_strict(finished_run):
    """An ordinary fit on energies only: RMSEs of absent properties are null, not NaN."""
    text = (finished_run / "run" / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
    assert summary["rmse"]["train"]["forces"] is None
    assert np.isfinite(summary["rmse"]["train"]["energy"])
    assert summary["problem"] is None


VIRIAL = ('1\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 energy=-3 {info} '
          'pbc="{pbc}"\nCu 0 0 0\n')


@pytest.mark.parametrize(("info", "pbc", "words"), [
    ('virial="2.7 0 0 0 5.4 0 0 0 8.1"', "T T T", None),
    ('virial="2.7 0 0 0 5.4 0 0 0 8.1" stress="-0.1 0 0 0 -0.2 0 0 0 -0.3"', "T T T", None),
    ('virial="2.7 0 0 0 5.4 0 0 0 8.1" stress="0.1 0 0 0 0.2 0 0 0 0.3"', "T T T", "disagree"),
    ('virial="2.7 0 0 0 5.4 0 0 0 8.1"', "F F F", "periodic cell"),
    ('virial="1 2"', "T T T", "virial"),
])
def test_extxyz_virial_read_as_stress(work, info, pbc, words):
    """A frame's ``virial`` (eV, = -stress * volume) was silently ignored: it is the stress target
    now, or refused when it cannot be one."""
    with fresh(work) as d:
        path = d / "v.extxyz"
        path.write_text(VIRIAL.format(info=info, pbc=pbc))
        ref = attempt("extxyz/ASE", lambda: read_reference(path), path)
        if words is None:
            np.testing.assert_allclose(ref[0].stress, [-0.1, -0.2, -0.3, 0, 0, 0], atol=1e-12)
        else:
            assert ref is None
            with pytest.raises(GafitInputError, match=words):
                read_reference(path)


def test_overflowing_predictions_not_written(work, finished_run):
    """A potential that overflows on the data: its predictions are refused in one line, not
    written as a file gafit's own readers reject; the RMSE says inf (it said "no reference
    values" before)."""
    with inputs_of(finished_run, work) as d:
        pot = load_potential(d / "run" / "potential.json")
        values = dict(pot.named_values())
        values.update({"Cu-Cu.D0": 1e300, "Cu-Cu.alpha": 1000.0, "Cu-Cu.r0": 5.0})
        save_potential(pot.with_values(np.array([values[n] for n in pot.names])), d / "big.json")
        before = snapshot(d)
        rc, stderr = run_cli(["evaluate", str(d / "big.json"), str(d / "data.extxyz"),
                              "--out", str(d / "pred.extxyz")])
        check_cli_error(rc, stderr)
        assert "NaN or infinite" in stderr and str(d / "pred.extxyz") in stderr
        assert snapshot(d) == before
        from gafit.evaluate import evaluate

        rmse = evaluate(load_potential(d / "big.json"), read_reference(d / "data.extxyz")).rmse
        assert rmse == {p: np.inf for p in ("energy", "forces", "stress", "virial")}


def test_deeply_nested_json_is_refused_even_after_phonopy_raised_the_recursion_limit(tmp_path):
    """symfc (imported with phonopy's force constants) sets sys.setrecursionlimit(100000); json's C
    parser then overflowed the C stack on '[' * 100000 (a segmentation fault) instead of raising a
    RecursionError. Run in a child process so that a regression cannot take the test run down."""
    import subprocess
    import sys

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"a": ' + "[" * 100000)
    (run / "potential.json").write_text("{}")
    code = ("import sys; sys.setrecursionlimit(100000)\n"
            "from gafit.cli import main\n"
            f"sys.exit(main(['evaluate', {str(deep)!r}, 'x.extxyz']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-500:]
    assert "nested more than" in out.stderr and out.stderr.count("\n") == 1
    code = code.replace(f"['evaluate', {str(deep)!r}, 'x.extxyz']", f"['report', {str(run)!r}]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-500:]
    assert "nested more than" in out.stderr
