"""skaidm: realistic synthetic spectra with Probabilistic Learning on Manifolds.

Scikit-learn estimators for PLoM (Soize & Ghanem 2016) with an attention-informed
diffusion map: robust scaling, attention preconditioning, whitening PCA and an
anisotropic diffusion-map basis.
"""

import importlib

__version__ = "0.1.0.dev0"

# Public names and the submodule that defines each. They are imported on first
# access (PEP 562), so ``import skaidm`` and the ``skaidm`` command start without
# loading scikit-learn and SciPy until a name is used.
_ATTRIBUTES = {
    "AnisotropicDiffusionMap": "diffusion",
    "AttentionPreconditioner": "attention",
    "BoundedTransform": "bounds",
    "ClassConditionalSampler": "conditional",
    "PLoMSampler": "plom",
    "WhiteningPCA": "whitening",
    "make_aidm_pipeline": "pipeline",
    "sample": "pipeline",
}
_SUBMODULES = ("attention", "datasets", "metrics")

__all__ = sorted([*_ATTRIBUTES, *_SUBMODULES, "__version__"])


def __getattr__(name):
    if name in _ATTRIBUTES:
        module = importlib.import_module(f".{_ATTRIBUTES[name]}", __name__)
        value = getattr(module, name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
