"""Sphinx configuration of the skaidm user guide.

Build: ``pip install ".[docs]" && python -m sphinx docs docs/_build/html``.
The pages are Markdown (MyST); the API reference is generated from the numpydoc
docstrings by autodoc.
"""

import os
import re

# SciPy's array API flag must not change between the test suite and the build.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# Plots in docstrings are never rendered by the build.
os.environ.setdefault("MPLBACKEND", "Agg")

import skaidm

project = "skaidm"
author = "The skaidm developers"
copyright = "The skaidm developers, BSD-3-Clause"
version = skaidm.__version__
release = skaidm.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "make_figures.py"]

# Markdown: anchors for ## and ### headings, so links such as
# ``overview.md#conventions`` resolve (and a broken one fails the build).
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# API reference.
autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# ``:doi:`10.1016/...``` in the docstrings.
extlinks = {"doi": ("https://doi.org/%s", "doi:%s")}

html_theme = "alabaster"
html_title = f"skaidm {release}"
html_static_path = []
html_theme_options = {
    "description": "Realistic synthetic spectra with PLoM and attention-informed "
    "diffusion maps, as scikit-learn estimators.",
    "page_width": "1100px",
    "sidebar_width": "240px",
}


# Shapes in the scikit-learn style name fitted attributes, e.g.
# ``ndarray of shape (n_samples, n_features_in_)``; a trailing underscore is a
# reST reference, so escape it inside ``shape (...)`` before numpydoc renders.
_SHAPE = re.compile(r"shape \(([^)]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b(\w+)_(?=[,) ]|$)")


def _escape_shape_names(app, what, name, obj, options, lines):
    def escape(match):
        inner = _TRAILING_UNDERSCORE.sub(r"\1\\_", match.group(1))
        return f"shape ({inner})"

    lines[:] = [_SHAPE.sub(escape, line) for line in lines]


def setup(app):
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", _escape_shape_names, priority=100)
