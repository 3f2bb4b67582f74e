"""The pure kernel functions against slow, obviously correct references."""

import numpy as np
import pytest

import skaidm._kernels
from skaidm._kernels import (
    apply_metric,
    choose_eigen_solver,
    gap_ratio,
    kernel_dtype,
    knn_epsilon,
    median_pair_distance,
    projection_errors,
    search_gap_epsilon,
    squared_distances,
    symmetric_diffusion_operator,
    top_eigenpairs,
)


def reference_squared_distances(Y, Z):
    return np.array([[np.sum((y - z) ** 2) for z in Z] for y in Y])


def test_squared_distances_match_reference(rng):
    Y = rng.normal(size=(40, 7))
    Z = rng.normal(size=(13, 7))
    D2 = squared_distances(Y)
    # Symmetric to the last bit, zero diagonal, non-negative.
    assert np.array_equal(D2, D2.T)
    assert np.all(np.diag(D2) == 0.0)
    assert np.all(D2 >= 0.0)
    np.testing.assert_allclose(D2, reference_squared_distances(Y, Y), atol=1e-12)
    np.testing.assert_allclose(
        squared_distances(Y, Z), reference_squared_distances(Y, Z), atol=1e-12
    )


def test_apply_metric_forms_agree(rng):
    X = rng.normal(size=(30, 5))
    w = rng.uniform(0.1, 3.0, 5)
    R = rng.normal(size=(8, 5))
    x, xp = X[3], X[17]
    # Weighted: sum_j w_j dx_j^2.
    D2w = squared_distances(apply_metric(X, w))
    assert D2w[3, 17] == pytest.approx(np.sum(w * (x - xp) ** 2), rel=1e-12)
    # Factor: ||R (x - x')||^2.
    D2R = squared_distances(apply_metric(X, R))
    assert D2R[3, 17] == pytest.approx(np.sum((R @ (x - xp)) ** 2), rel=1e-12)
    # A diagonal factor sqrt(w) is the weighted metric.
    np.testing.assert_allclose(
        squared_distances(apply_metric(X, np.diag(np.sqrt(w)))), D2w, atol=1e-12
    )


def test_symmetric_operator_matches_reference(rng):
    X = rng.normal(size=(50, 3))
    eps = 0.7
    D2 = squared_distances(X)
    K = np.exp(-reference_squared_distances(X, X) / (4 * eps))
    b = K.sum(axis=1)
    P_S, b_out = symmetric_diffusion_operator(D2, eps)
    np.testing.assert_allclose(b_out, b, rtol=1e-13)
    np.testing.assert_allclose(P_S, K / np.sqrt(np.outer(b, b)), rtol=1e-12)
    # Kernel symmetry carries over to P_S up to the rounding of two products.
    np.testing.assert_allclose(P_S, P_S.T, rtol=1e-15, atol=0)
    # The transition matrix P = b^-1 K is row-stochastic.
    P = np.sqrt(b_out)[None, :] * P_S / np.sqrt(b_out)[:, None]
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-13)
    # D2 is not modified.
    np.testing.assert_array_equal(D2, squared_distances(X))


def test_top_eigenpairs_dense_and_arpack_agree(rng):
    X = rng.normal(size=(120, 4))
    P_S, _ = symmetric_diffusion_operator(squared_distances(X), 2.0)
    full = np.linalg.eigvalsh(P_S)[::-1]
    vals, vecs = top_eigenpairs(P_S.copy(), 8, solver="dense")
    np.testing.assert_allclose(vals, full[:8], atol=1e-13)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(8), atol=1e-13)
    np.testing.assert_allclose(P_S @ vecs, vecs * vals, atol=1e-13)
    vals_a, vecs_a = top_eigenpairs(P_S.copy(), 8, solver="arpack")
    np.testing.assert_allclose(vals_a, full[:8], atol=1e-10)
    # Eigenvectors up to sign: compare projectors.
    np.testing.assert_allclose(vecs_a @ vecs_a.T, vecs @ vecs.T, atol=1e-8)
    only = top_eigenpairs(P_S.copy(), 8, values_only=True)
    np.testing.assert_allclose(only, full[:8], atol=1e-13)
    np.testing.assert_allclose(
        top_eigenpairs(P_S.copy(), 120, values_only=True), full, atol=1e-13
    )


def test_knn_epsilon_matches_sorting(rng):
    X = rng.normal(size=(60, 3))
    D2 = squared_distances(X)
    for k in (1, 5, 59):
        kth = np.sort(D2, axis=1)[:, k]
        assert knn_epsilon(D2, k) == pytest.approx(np.median(kth) / 4, rel=1e-15)


def test_gap_ratio_edges():
    lam = np.array([1.0, 0.5, 0.05, 0.0, 0.0])
    assert gap_ratio(lam, 2) == pytest.approx(0.1)
    # lambda_m = 0: no gap can be measured after it.
    assert np.isinf(gap_ratio(lam, 4))
    # Fewer than m + 1 eigenvalues.
    assert np.isnan(gap_ratio(lam, 5))


def test_projection_errors_match_lstsq(rng):
    basis = np.c_[np.ones(40), rng.normal(size=(40, 9))]
    Y = rng.normal(size=(40, 6)) + 3.0
    errors = projection_errors(basis, Y)
    Yc = Y - Y.mean(axis=0)
    for m in range(1, 11):
        coef, *_ = np.linalg.lstsq(basis[:, :m], Y, rcond=None)
        expected = np.linalg.norm(Y - basis[:, :m] @ coef) / np.linalg.norm(Yc)
        assert errors[m - 1] == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert np.all(np.diff(errors) <= 1e-15)
    # The constant alone leaves all of the centred data.
    assert errors[0] == pytest.approx(1.0, rel=1e-12)


def _helix_gap_search(helix):
    """Gap search (m = 4, ratio 0.1) on the whitened helix: (D2, epsilon, path)."""
    eta = (helix - helix.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(helix.T)).T)
    D2 = squared_distances(eta)
    eps, path = search_gap_epsilon(
        D2, 4, threshold=0.1, epsilon_start=0.05, epsilon_stop=1e4
    )
    return D2, eps, np.asarray(path)


def test_gap_search_brackets_the_first_crossing(spec_sets):
    D2, eps, path = _helix_gap_search(spec_sets[0])
    below = path[path[:, 1] <= 0.1, 0]
    above = path[path[:, 1] > 0.1, 0]
    # The returned value is the smallest evaluated bandwidth with a gap, and the
    # largest evaluated bandwidth without one lies within 0.1% below it.
    assert eps == below.min()
    assert above.max() < eps <= above.max() * 1.001
    # Every evaluated bandwidth below the answer has no gap (first crossing).
    assert np.all(path[path[:, 0] < eps, 1] > 0.1)
    # A range that ends before the gap finds nothing.
    none, _ = search_gap_epsilon(
        D2, 4, threshold=0.1, epsilon_start=0.05, epsilon_stop=1.0
    )
    assert none is None


# ------------------------------------------------------------ large-N paths


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 16 rows, so that small matrices exercise the blocked code."""
    monkeypatch.setattr(skaidm._kernels, "KERNEL_BLOCK_ROWS", 16)


def whitened_gaussian(n, r, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, r))
    X -= X.mean(axis=0)
    return X @ np.linalg.inv(np.linalg.cholesky(np.cov(X.T)).T)


def test_float32_distances_match_float64(rng, small_blocks):
    Y = rng.normal(size=(75, 6))
    D64 = squared_distances(Y)
    D32 = squared_distances(Y, dtype=np.float32)
    assert D32.dtype == np.float32
    assert np.array_equal(D32, D32.T)
    assert np.all(np.diag(D32) == 0.0)
    assert np.all(D32 >= 0.0)
    # Computed in float64, rounded once: float32 rounding of the entries.
    np.testing.assert_allclose(D32, D64, rtol=1e-7, atol=1e-12)


def test_float32_operator_and_eigenvalues_match_float64(small_blocks):
    """Stated tolerance of the float32 path: 1e-6 relative on the eigenvalues."""
    X = whitened_gaussian(300, 5)
    eps = 3.0
    P64, b64 = symmetric_diffusion_operator(squared_distances(X), eps)
    P32, b32 = symmetric_diffusion_operator(squared_distances(X, dtype=np.float32), eps)
    assert P32.dtype == np.float32
    assert b32.dtype == np.float64
    np.testing.assert_allclose(b32, b64, rtol=1e-6)
    np.testing.assert_allclose(P32, P64, rtol=1e-6, atol=1e-9)
    vals, vecs = top_eigenpairs(P64.copy(), 8)
    for solver in ("arpack", "dense"):
        vals32, vecs32 = top_eigenpairs(P32.copy(), 8, solver=solver)
        assert vals32.dtype == np.float64
        assert vecs32.dtype == np.float64
        np.testing.assert_allclose(vals32, vals, rtol=1e-6)
        # The top-8 eigenspace is well separated here: compare projectors.
        np.testing.assert_allclose(vecs32 @ vecs32.T, vecs @ vecs.T, atol=1e-5)


def test_arpack_matches_dense_eigenvectors(rng):
    X = rng.normal(size=(250, 4)) * [3.0, 1.7, 1.0, 0.5]
    P_S, _ = symmetric_diffusion_operator(squared_distances(X), 4.0)
    vals, vecs = top_eigenpairs(P_S.copy(), 6)
    vals_a, vecs_a = top_eigenpairs(P_S.copy(), 6, solver="arpack", random_state=rng)
    np.testing.assert_allclose(vals_a, vals, rtol=1e-12)
    # Up to sign, column by column (the top 6 eigenvalues are distinct here).
    assert np.min(np.diff(-vals)) > 1e-3
    np.testing.assert_allclose(np.abs(np.sum(vecs_a * vecs, axis=0)), 1, atol=1e-9)


def test_auto_solver_thresholds():
    lim = skaidm._kernels.DENSE_EIGEN_MAX_ROWS
    frac = skaidm._kernels.ARPACK_MAX_FRACTION
    assert choose_eigen_solver(lim, 52) == "dense"
    assert choose_eigen_solver(lim + 1, 52) == "arpack"
    assert choose_eigen_solver(20000, 52) == "arpack"
    n = 5000
    assert choose_eigen_solver(n, int(frac * n)) == "arpack"
    assert choose_eigen_solver(n, int(frac * n) + 1) == "dense"
    assert choose_eigen_solver(n, n) == "dense"
    big = skaidm._kernels.FLOAT32_MIN_ROWS
    assert kernel_dtype(big) == np.float64
    assert kernel_dtype(big + 1) == np.float32


def test_blocked_knn_and_median_match_sorting(rng, small_blocks):
    X = rng.normal(size=(70, 3))
    for D2 in (squared_distances(X), squared_distances(X, dtype=np.float32)):
        for k in (1, 9, 69):
            kth = np.sort(D2.astype(np.float64), axis=1)[:, k]
            assert knn_epsilon(D2, k) == pytest.approx(np.median(kth) / 4, rel=1e-15)
        upper = D2[np.triu_indices(70, 1)]
        assert median_pair_distance(D2) == pytest.approx(np.median(upper), rel=1e-7)
    D2 = squared_distances(np.repeat(X[:5], 3, axis=0))
    upper = D2[np.triu_indices(15, 1)]
    assert median_pair_distance(D2, positive=True) == pytest.approx(
        np.median(upper[upper > 0]), rel=1e-15
    )
    assert np.isnan(median_pair_distance(np.zeros((4, 4)), positive=True))


def test_gap_search_needs_fewer_evaluations_than_bisection(spec_sets):
    """Same bracket as bisection (see above), fewer eigen-solves."""
    _, eps, path = _helix_gap_search(spec_sets[0])
    scan = np.flatnonzero(path[:, 1] <= 0.1)[0] + 1  # up to the first gapped point
    # Bisection of a factor-2 bracket to 0.1% takes ceil(log2(log 2 / log 1.001)).
    bisection = int(np.ceil(np.log2(np.log(2) / np.log1p(1e-3))))
    assert len(path) - scan < bisection
    above = path[path[:, 1] > 0.1, 0]
    assert above.max() < eps <= above.max() * 1.001


def test_gap_search_returns_the_eigenpairs_at_the_selected_bandwidth(spec_sets):
    helix = spec_sets[0]
    eta = (helix - helix.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(helix.T)).T)
    D2 = squared_distances(eta)
    eps, path, pairs = search_gap_epsilon(
        D2,
        4,
        threshold=0.1,
        epsilon_start=0.05,
        epsilon_stop=1e4,
        solver="arpack",
        random_state=np.random.default_rng(0),
        return_eigenpairs=True,
    )
    assert eps == min(e for e, ratio in path if ratio <= 0.1)
    lam, phi = pairs
    P_S, _ = symmetric_diffusion_operator(D2, eps)
    lam_ref = np.linalg.eigvalsh(P_S)[::-1][:5]
    np.testing.assert_allclose(lam, lam_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(P_S @ phi, phi * lam, atol=1e-8)
