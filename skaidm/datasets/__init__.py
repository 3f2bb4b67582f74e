"""Real reflectance spectra shipped with skaidm, with scikit-learn style loaders."""

from ._base import load_usgs_minerals

__all__ = ["load_usgs_minerals"]
