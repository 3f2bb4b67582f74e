"""skaidm: realistic synthetic spectra with Probabilistic Learning on Manifolds.

Scikit-learn estimators for PLoM (Soize & Ghanem 2016) with an attention-informed
diffusion map: robust scaling, attention preconditioning, whitening PCA and an
anisotropic diffusion-map basis.
"""

__version__ = "0.1.0.dev0"

from . import attention, datasets, metrics
from .attention import AttentionPreconditioner
from .bounds import BoundedTransform
from .conditional import ClassConditionalSampler
from .diffusion import AnisotropicDiffusionMap
from .pipeline import make_aidm_pipeline, sample
from .plom import PLoMSampler
from .whitening import WhiteningPCA

__all__ = [
    "AnisotropicDiffusionMap",
    "AttentionPreconditioner",
    "BoundedTransform",
    "ClassConditionalSampler",
    "PLoMSampler",
    "WhiteningPCA",
    "__version__",
    "attention",
    "datasets",
    "make_aidm_pipeline",
    "metrics",
    "sample",
]
