"""The KDE force and the integrator against slow, obviously correct references."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from skaidm import WhiteningPCA
from skaidm._isde import (
    FORCE_UNDERFLOW,
    KDEPotential,
    integrate,
    kde_bandwidths,
)


def naive_force(U, eta):
    """PLOM_SPEC step 3 row by row: softmax of -||h_j - u||^2 / (2 s_hat^2)."""
    s, s_hat = kde_bandwidths(*eta.shape)
    H = eta * (s_hat / s)
    L = np.empty_like(U)
    for i, u in enumerate(U):
        d2 = ((H - u) ** 2).sum(axis=1)
        w = softmax(-d2 / (2 * s_hat**2))
        L[i] = (w @ H - u) / s_hat**2
    return L


def naive_integrate(eta, Q, *, f0, dr, n_steps, rng):
    """PLOM_SPEC steps 8-9 with the naive force and fresh arrays at every step."""
    n, r = eta.shape
    b = f0 * dr / 4
    Z = Q.T @ eta
    Y = Q.T @ rng.standard_normal((n, r))
    for _ in range(n_steps):
        Z_half = Z + dr / 2 * Y
        dW = math.sqrt(dr) * rng.standard_normal((n, r))
        force = naive_force(Q @ Z_half, eta)
        Y = (1 - b) / (1 + b) * Y + Q.T @ (dr * force + math.sqrt(f0) * dW) / (1 + b)
        Z = Z_half + dr / 2 * Y
    return Q @ Z


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6)) @ rng.normal(size=(6, 6))
    return WhiteningPCA().fit_transform(X)


def test_force_matches_naive_dense_computation(cloud, rng):
    pot = KDEPotential(cloud)
    U = cloud + 0.4 * rng.standard_normal(cloud.shape)
    expected = naive_force(U, cloud)
    got = pot.force(U)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale)


def test_force_matches_naive_at_r_285():
    rng = np.random.default_rng(1)
    eta = WhiteningPCA().fit_transform(rng.normal(size=(300, 285)))
    U = eta[:40] + 0.5 * rng.standard_normal((40, 285))
    expected = naive_force(U, eta)
    got = KDEPotential(eta).force(U)
    np.testing.assert_allclose(
        got, expected, rtol=0, atol=1e-12 * np.abs(expected).max()
    )


@pytest.mark.parametrize("block", [1, 7, 64, 119, 120, 1000])
def test_blocks_and_work_space_change_nothing(cloud, rng, block):
    pot = KDEPotential(cloud)
    U = cloud + 0.2 * rng.standard_normal(cloud.shape)
    expected = naive_force(U, cloud)
    pot.block = block
    workspace = pot.workspace(len(U))
    assert workspace[1].shape == (min(block, len(U)), len(cloud))
    out = np.empty_like(U)
    for _ in range(2):  # the work space is reused
        got = pot.force(U, out=out, workspace=workspace)
        assert got is out
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_far_particles_use_the_exact_shift(cloud, rng):
    """Far rows (every exp underflows) in the same block as near rows."""
    pot = KDEPotential(cloud)
    near = cloud[:5] + 0.1
    far = 1000.0 * rng.standard_normal((3, cloud.shape[1]))
    U = np.vstack([near[:2], far, near[2:]])
    # The unshifted weight sum of a far row is below the threshold...
    c = 0.5 * pot.inv_var * ((pot.H[None] - far[:, None]) ** 2).sum(-1)
    assert np.all(logsumexp(-c, axis=1) < math.log(FORCE_UNDERFLOW))
    L = pot.force(U)
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L, naive_force(U, cloud), rtol=1e-10, atol=1e-10)
    # ...and its force points to the nearest shrunk data point.
    for i, u in zip(range(2, 5), far, strict=True):
        j = np.argmin(((pot.H - u) ** 2).sum(1))
        np.testing.assert_allclose(L[i], (pot.H[j] - u) / pot.s_hat**2, rtol=1e-9)


def test_integrator_matches_naive_steps(cloud):
    """Stormer-Verlet with the in-place force and buffers, same random numbers."""
    Q, _ = np.linalg.qr(np.c_[np.ones(len(cloud)), cloud, cloud[:, :2] ** 2])
    kwargs = {"f0": 4.0, "dr": 0.15, "n_steps": 12}
    expected = naive_integrate(cloud, Q, rng=np.random.default_rng(5), **kwargs)
    got = integrate(
        KDEPotential(cloud), cloud, Q, rng=np.random.default_rng(5), **kwargs
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11)
    # The particles moved: the comparison has power.
    assert np.abs(got - Q @ (Q.T @ cloud)).max() > 0.1
