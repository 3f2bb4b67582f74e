"""Real reflectance spectra shipped with skaidm, with scikit-learn style loaders."""

from ._base import load_emit_bands, load_emit_references, load_usgs_minerals
from ._generators import make_correlated_gaussian, make_helix

__all__ = [
    "load_emit_bands",
    "load_emit_references",
    "load_usgs_minerals",
    "make_correlated_gaussian",
    "make_helix",
]
