"""Project-wide contracts: scikit-learn's estimator checks and the public names."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import skaidm
from skaidm import (
    AnisotropicDiffusionMap,
    AttentionPreconditioner,
    PLoMSampler,
    WhiteningPCA,
)

ESTIMATORS = [
    AttentionPreconditioner(),
    AttentionPreconditioner(weights=np.ones(1)),
    WhiteningPCA(),
    AnisotropicDiffusionMap(),
    PLoMSampler(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_all_names_exist():
    for name in skaidm.__all__:
        assert hasattr(skaidm, name), name
    assert skaidm.__version__


@pytest.mark.parametrize("module", ["attention", "datasets", "metrics"])
def test_submodules_are_public(module):
    assert module in skaidm.__all__
