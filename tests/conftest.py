"""Shared fixtures: the synthetic sets of PLOM_SPEC section 7 and seeds."""

import os

# scikit-learn's array-API estimator check runs only when SciPy's array API support
# is on; it must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def make_spec_sets():
    """Helix (200 x 3) and correlated Gaussian (300 x 50), PLOM_SPEC section 7.

    Both come from one ``default_rng(0)`` stream, in this order, exactly as the
    specification defines them so anyone can regenerate the published numbers.
    """
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 4 * np.pi, 200)
    helix = np.c_[np.cos(t), np.sin(t), t / (2 * np.pi)]
    helix += 0.05 * rng.standard_normal((200, 3))
    idx = np.arange(50)
    C = 0.9 ** np.abs(idx[:, None] - idx[None, :])
    gaussian = rng.standard_normal((300, 50)) @ np.linalg.cholesky(C).T
    return helix, gaussian


@pytest.fixture(scope="session")
def spec_sets():
    return make_spec_sets()


@pytest.fixture(scope="session")
def helix(spec_sets):
    return spec_sets[0]


@pytest.fixture(scope="session")
def correlated_gaussian(spec_sets):
    return spec_sets[1]


@pytest.fixture
def global_random_seed():
    """Seed of randomized tests: 42, or SKAIDM_TESTS_GLOBAL_RANDOM_SEED."""
    return int(os.environ.get("SKAIDM_TESTS_GLOBAL_RANDOM_SEED", "42"))


@pytest.fixture
def rng(global_random_seed):
    return np.random.default_rng(global_random_seed)
