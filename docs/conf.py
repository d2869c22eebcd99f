"""Sphinx configuration of gafit's documentation: ``make docs`` builds it strictly (warnings are errors).

The pages are Markdown (MyST); the API reference is generated from the docstrings by autodoc, which
imports gafit from the repository (so the source tree is documented, not an installed copy).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "gafit"
author = "the gafit authors"
copyright = "2026, the gafit authors"  # noqa: A001 (Sphinx's name)
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # numpydoc / Google sections, where a docstring has them
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Pages are Markdown files; what else lies in docs/ (report HTML, CSV, TOML, scripts) is material they link.
exclude_patterns = ["_build", "report_si_mlearn/**"]

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve

# Docstrings state units and shapes in prose; type hints stay in the signature. Members in file order, the
# undocumented public ones too (a user looks up `Potential.to_dict` by its signature).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "alabaster"
html_title = "gafit"
html_theme_options = {"description": "Fit classical interatomic potentials to DFT data; export to LAMMPS",
                      "fixed_sidebar": True, "page_width": "1180px"}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
