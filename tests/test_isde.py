"""The KDE force and the integrator against slow, obviously correct references."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from skaidm import WhiteningPCA
from skaidm._isde import (
    FORCE_UNDERFLOW,
    KDEPotential,
    canonical_basis,
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
    """PLOM_SPEC steps 8-9 with the naive force and fresh arrays at every step.

    The projected Wiener increment Q^T dW (i.i.d. N(0, dr) entries for orthonormal
    Q) and the projected initial velocity are drawn as m x r matrices.
    """
    r, m = eta.shape[1], Q.shape[1]
    b = f0 * dr / 4
    Z = Q.T @ eta
    Y = rng.standard_normal((m, r))
    for _ in range(n_steps):
        Z_half = Z + dr / 2 * Y
        QtdW = math.sqrt(dr) * rng.standard_normal((m, r))
        force = naive_force(Q @ Z_half, eta)
        Y = (1 - b) / (1 + b) * Y + (dr * Q.T @ force + math.sqrt(f0) * QtdW) / (1 + b)
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
    (got,) = integrate(
        KDEPotential(cloud), cloud, Q, rngs=[np.random.default_rng(5)], **kwargs
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11)
    # The particles moved: the comparison has power.
    assert np.abs(got - Q @ (Q.T @ cloud)).max() > 0.1


def test_batched_realisations_equal_single_ones(cloud):
    """Realisation k depends on its own generator only, not on its batch."""
    Q, _ = np.linalg.qr(np.c_[np.ones(len(cloud)), cloud])
    kwargs = {"f0": 4.0, "dr": 0.15, "n_steps": 12}
    pot = KDEPotential(cloud)
    batch = integrate(
        pot, cloud, Q, rngs=[np.random.default_rng(s) for s in (1, 2, 3)], **kwargs
    )
    assert batch.shape == (3, *cloud.shape)
    for k, seed in enumerate((1, 2, 3)):
        expected = naive_integrate(cloud, Q, rng=np.random.default_rng(seed), **kwargs)
        np.testing.assert_allclose(batch[k], expected, rtol=0, atol=1e-11)
    assert np.abs(batch[0] - batch[1]).max() > 0.1


def test_batched_force_blocks_cross_realisations(cloud):
    """A force block boundary inside a realisation's particles changes nothing."""
    Q, _ = np.linalg.qr(np.c_[np.ones(len(cloud)), cloud])
    kwargs = {"f0": 4.0, "dr": 0.15, "n_steps": 5}
    pot = KDEPotential(cloud)
    expected = integrate(
        pot, cloud, Q, rngs=[np.random.default_rng(s) for s in (1, 2)], **kwargs
    )
    pot.block = 77  # 240 stacked particles in blocks of 77
    got = integrate(
        pot, cloud, Q, rngs=[np.random.default_rng(s) for s in (1, 2)], **kwargs
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------ single precision

# Force error allowed in single precision. L = (S / sigma - u) / s_hat^2 is the
# difference of two terms; the single-precision weighted mean S / sigma carries an
# error of a few float32 roundings (6e-8) of its size, so the error is measured
# against the size of the terms, ||L|| + ||u|| / s_hat^2 (measured: up to 3e-7; on
# rows near a stationary point, L ~ 0, the error relative to ||L|| alone is larger).
SINGLE_FORCE_RTOL = 1e-6


def relative_row_errors(got, expected, U, potential):
    scale = np.linalg.norm(expected, axis=1)
    scale += potential.inv_var * np.linalg.norm(U, axis=1)
    return np.linalg.norm(got - expected, axis=1) / scale


@pytest.mark.parametrize(
    ("n", "r", "spread"),
    [
        (120, 3, 0.05),
        (120, 6, 0.4),
        (300, 50, 0.5),
        (300, 285, 0.1),
        (300, 285, 0.5),
        (300, 285, 2.0),
    ],
)
def test_single_precision_force_within_1e_6(n, r, spread):
    """Near and far particles, r up to 285 (where the constant shift underflows)."""
    rng = np.random.default_rng(n + r)
    X = rng.normal(size=(n, 285)) @ np.diag(0.98 ** np.arange(285))
    eta = WhiteningPCA(n_components=r).fit_transform(X)
    U = 0.8 * eta[rng.integers(n, size=200)] + spread * rng.standard_normal((200, r))
    expected = naive_force(U, eta)
    potential = KDEPotential(eta, np.float32)
    got = potential.force(U)
    assert got.dtype == np.float64
    errors = relative_row_errors(got, expected, U, potential)
    assert errors.max() <= SINGLE_FORCE_RTOL
    # Single precision is not silently double: the error is above double round-off.
    assert errors.max() > 1e-12


def test_single_precision_far_particles(cloud, rng):
    far = 1000.0 * rng.standard_normal((3, cloud.shape[1]))
    U = np.vstack([cloud[:4] + 0.1, far])
    potential = KDEPotential(cloud, np.float32)
    got = potential.force(U)
    assert np.all(np.isfinite(got))
    errors = relative_row_errors(got, naive_force(U, cloud), U, potential)
    assert errors.max() <= SINGLE_FORCE_RTOL


def test_potential_rejects_other_dtypes(cloud):
    with pytest.raises(ValueError, match=r"float64 or numpy\.float32"):
        KDEPotential(cloud, np.float16)


# ---------------------------------------------------------------- the basis


def test_canonical_basis_is_orthonormal_and_depends_on_the_span_only(cloud):
    rng = np.random.default_rng(0)
    g = np.c_[np.ones(len(cloud)), cloud, cloud[:, :2] ** 2]
    m = g.shape[1]
    Q = canonical_basis(g)
    np.testing.assert_allclose(Q.T @ Q, np.eye(m), atol=1e-13)
    # Same span: the projector is g (g^T g)^-1 g^T.
    P = g @ np.linalg.solve(g.T @ g, g.T)
    np.testing.assert_allclose(Q @ Q.T, P, atol=1e-12)
    # Any other basis of the span gives the same columns, not just the same span.
    T = rng.normal(size=(m, m)) + 3 * np.eye(m)
    np.testing.assert_allclose(canonical_basis(g @ T), Q, atol=1e-10)
    np.testing.assert_allclose(
        canonical_basis(np.linalg.qr(g)[0][:, ::-1]), Q, atol=1e-12
    )
    # ...whereas a QR factor depends on the basis: the test has power.
    assert np.abs(np.linalg.qr(g @ T)[0] - np.linalg.qr(g)[0]).max() > 0.1


@pytest.mark.parametrize("r", [50, 285])
def test_single_precision_shifts_agree(r):
    """Constant shift (with its fallback) and row-maximum shift, on the same rows.

    At r = 285 the constant shift underflows for most rows, which then take the
    exact fallback; at r = 50 the row maximum is merely the slower way.
    """
    rng = np.random.default_rng(r)
    X = rng.normal(size=(300, 285)) @ np.diag(0.98 ** np.arange(285))
    eta = WhiteningPCA(n_components=r).fit_transform(X)
    U = 0.8 * eta[rng.integers(300, size=100)] + 0.5 * rng.standard_normal((100, r))
    expected = naive_force(U, eta)
    assert KDEPotential(eta, np.float32).row_max_shift == (r > 100)
    assert not KDEPotential(eta).row_max_shift
    for row_max_shift in (False, True):
        potential = KDEPotential(eta, np.float32, row_max_shift=row_max_shift)
        got = potential.force(U)
        errors = relative_row_errors(got, expected, U, potential)
        assert errors.max() <= SINGLE_FORCE_RTOL


@pytest.mark.parametrize(("n", "r", "m"), [(120, 6, 9), (300, 285, 40)])
def test_single_precision_realisations_follow_double(n, r, m):
    """Same random numbers: the single-precision trajectory stays on the double one.

    Measured: 9e-8 (r = 6) and 1.3e-5 (r = 285) in whitened units, against rows of
    size ~2 and ~2 between two realisations; the bound is 1e-4.
    """
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 285)) @ np.diag(0.98 ** np.arange(285))
    eta = WhiteningPCA(n_components=r).fit_transform(X)
    Q = canonical_basis(np.c_[np.ones(n), rng.normal(size=(n, m - 1))])
    out = [
        integrate(
            KDEPotential(eta, dtype),
            eta,
            Q,
            f0=4.0,
            dr=0.15,
            n_steps=22,
            rngs=[np.random.default_rng(s) for s in (1, 2)],
        )
        for dtype in (np.float64, np.float32)
    ]
    assert out[1].dtype == np.float64
    gap = np.abs(out[1] - out[0]).max()
    assert 1e-12 < gap <= 1e-4
    assert np.abs(out[0][0] - out[0][1]).max() > 1.0
