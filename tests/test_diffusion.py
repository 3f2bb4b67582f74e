"""AnisotropicDiffusionMap: PLoM_SPEC facts F4-F5, section 7, rules, Nystrom."""

import warnings

import joblib
import numpy as np
import pytest

from skaidm import AnisotropicDiffusionMap, WhiteningPCA
from skaidm.diffusion import DiffusionMapWarning


def whiten(X):
    return WhiteningPCA().fit_transform(X)


def reference_diffusion(X, epsilon, metric=None):
    """Slow, obviously correct dense diffusion map: loops and a general eig."""
    n = len(X)
    K = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            dx = X[i] - X[j]
            if metric is None:
                d2 = dx @ dx
            elif metric.ndim == 1:
                d2 = np.sum(metric * dx**2)
            else:
                d2 = np.sum((metric @ dx) ** 2)
            K[i, j] = np.exp(-d2 / (4 * epsilon))
    P = K / K.sum(axis=1, keepdims=True)
    vals, vecs = np.linalg.eig(P)  # P is not symmetric: the general solver
    order = np.argsort(-vals.real)
    return K, P, vals.real[order], vecs.real[:, order]


def projector(A):
    Q, _ = np.linalg.qr(A)
    return Q @ Q.T


@pytest.fixture(scope="module")
def small_cloud():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 3)) @ np.diag([2.0, 1.0, 0.3])
    return whiten(X)


# --------------------------------------------------------------- F4 and F5


def test_F4_spectral_invariants(small_cloud):
    X = small_cloud
    n = len(X)
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=n).fit(X)
    lam, psi, b = dmap.eigenvalues_, dmap.eigenvectors_, dmap.row_sums_
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1) / (4 * 0.8))
    P = K / K.sum(1, keepdims=True)
    np.testing.assert_allclose(K, K.T, rtol=0, atol=0)  # kernel symmetry
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)
    assert lam[0] == pytest.approx(1.0, abs=1e-14)
    assert np.all(lam >= 0)
    assert np.all(lam <= 1 + 1e-14)
    assert np.all(np.diff(lam) <= 0)
    # psi_1 constant, equal to +(sum b)^-1/2 (deterministic sign: positive).
    assert np.std(psi[:, 0]) / np.abs(psi[:, 0]).mean() < 1e-13
    np.testing.assert_allclose(psi[:, 0], 1 / np.sqrt(b.sum()), rtol=1e-13)
    np.testing.assert_allclose(psi.T @ (b[:, None] * psi), np.eye(n), atol=1e-12)
    np.testing.assert_allclose(P @ psi, psi * lam, atol=1e-13)
    np.testing.assert_allclose(dmap.embedding_, psi * lam, rtol=1e-15)


def test_F5_reduced_representation(small_cloud):
    X = small_cloud
    n = len(X)
    errors = []
    for m in (1, 2, 4, 8, 16, 32, n):
        dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=m).fit(X)
        g = dmap.embedding_
        # a = g (g^T g)^-1 computed independently; a^T g = I_m.
        a = np.linalg.solve(g.T @ g, g.T).T
        np.testing.assert_allclose(a.T @ g, np.eye(m), atol=1e-9)
        z_d = X.T @ a
        np.testing.assert_allclose(
            dmap.inverse_transform(g), g @ z_d.T, atol=1e-9 * np.abs(X).max()
        )
        errors.append(dmap.reconstruction_error_)
        ref = np.linalg.norm(X - g @ z_d.T) / np.linalg.norm(X - X.mean(0))
        assert dmap.reconstruction_error_ == pytest.approx(ref, rel=1e-8, abs=1e-12)
    # Error never increases with m, and with m = N the data come back exactly.
    assert np.all(np.diff(errors) <= 1e-12)
    assert errors[-1] < 1e-12
    np.testing.assert_allclose(dmap.inverse_transform(dmap.embedding_), X, atol=1e-12)


def test_decoder_is_a_projection(small_cloud):
    X = small_cloud
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=6).fit(X)
    X_rec = dmap.inverse_transform(dmap.embedding_)
    g = dmap.embedding_
    # Residual orthogonal to span(g); projecting twice changes nothing.
    np.testing.assert_allclose(g.T @ (X - X_rec), 0, atol=1e-12)
    np.testing.assert_allclose(projector(g) @ X_rec, X_rec, atol=1e-12)


# ----------------------------------------------------- dense reference check


@pytest.mark.parametrize("metric_kind", ["none", "weights", "factor"])
def test_agrees_with_slow_reference(metric_kind):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(45, 3))
    metric = {
        "none": None,
        "weights": rng.uniform(0.2, 2.0, 3),
        "factor": rng.normal(size=(5, 3)),
    }[metric_kind]
    eps, m = 0.9, 7
    K, _, vals, vecs = reference_diffusion(X, eps, metric)
    dmap = AnisotropicDiffusionMap(epsilon=eps, n_components=m, metric=metric).fit(X)
    np.testing.assert_allclose(dmap.eigenvalues_, vals[:m], atol=1e-12)
    np.testing.assert_allclose(dmap.row_sums_, K.sum(1), rtol=1e-13)
    # Eigenvectors are unique only up to scale and sign: compare the spans.
    np.testing.assert_allclose(
        projector(dmap.embedding_), projector(vecs[:, :m]), atol=1e-9
    )
    # Nystrom for new rows against the formula written out.
    X_new = rng.normal(size=(4, 3))
    G = dmap.transform(X_new)
    for i, x in enumerate(X_new):
        dx = x - X
        if metric is None:
            d2 = (dx**2).sum(1)
        elif metric.ndim == 1:
            d2 = (metric * dx**2).sum(1)
        else:
            d2 = ((dx @ metric.T) ** 2).sum(1)
        k = np.exp(-d2 / (4 * eps))
        expected = (k / k.sum()) @ dmap.eigenvectors_ / dmap.eigenvalues_
        expected *= dmap.eigenvalues_**dmap.kappa
        np.testing.assert_allclose(G[i], expected, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------- PLOM_SPEC section 7


def test_section7_helix_eigenvalues(helix):
    dmap = AnisotropicDiffusionMap(epsilon=5.5, n_components=4).fit(whiten(helix))
    lam = dmap.eigenvalues_
    # Published to three significant digits: within half a unit of the last one.
    for value, published in zip(lam[1:], (0.0908, 0.0900, 0.0887), strict=True):
        assert abs(value - published) <= 0.00005
    assert abs(dmap.gap_ratio_ * lam[3] - 0.00824) <= 0.000005


def test_section7_gaussian_eigenvalues(correlated_gaussian):
    eta = whiten(correlated_gaussian)
    dmap = AnisotropicDiffusionMap(epsilon=55.0, n_components=51).fit(eta)
    lam51 = dmap.eigenvalues_[50]
    assert abs(lam51 - 9.19e-3) <= 0.005e-3
    assert abs(dmap.gap_ratio_ * lam51 - 9.13e-4) <= 0.005e-4


@pytest.mark.parametrize(
    ("name", "low", "high"), [("helix", 5.0, 5.5), ("gaussian", 54.5, 55.0)]
)
def test_gap_rule_finds_the_first_gap(spec_sets, name, low, high):
    X = spec_sets[0] if name == "helix" else spec_sets[1]
    eta = whiten(X)
    dmap = AnisotropicDiffusionMap(epsilon="gap", n_components="gap").fit(eta)
    m = eta.shape[1] + 1
    assert dmap.epsilon_rule_ == "gap"
    assert dmap.n_components_rule_ == "gap"
    assert dmap.n_components_ == m
    assert low < dmap.epsilon_ <= high
    assert dmap.gap_ratio_ <= 0.1
    # Just below the answer there is no gap yet.
    below = AnisotropicDiffusionMap(epsilon=0.98 * dmap.epsilon_, n_components=m)
    assert below.fit(eta).gap_ratio_ > 0.1
    # "auto" on whitened data with an isotropic kernel is the gap rule.
    auto = AnisotropicDiffusionMap().fit(eta)
    assert auto.epsilon_ == dmap.epsilon_
    assert auto.n_components_ == m


# ---------------------------------------------------------------- the rules


def test_knn_and_reconstruction_rules(small_cloud):
    X = small_cloud
    dmap = AnisotropicDiffusionMap(epsilon="knn", n_neighbors=5).fit(X)
    D2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    assert dmap.epsilon_ == pytest.approx(np.median(np.sort(D2, 1)[:, 5]) / 4)
    assert dmap.epsilon_rule_ == "knn"
    assert dmap.n_components_rule_ == "reconstruction"
    m = dmap.n_components_
    assert dmap.reconstruction_error_ <= 0.2
    # The smallest m reaching the tolerance: one fewer vector does not.
    fewer = AnisotropicDiffusionMap(epsilon=dmap.epsilon_, n_components=m - 1)
    assert fewer.fit(X).reconstruction_error_ > 0.2
    tighter = AnisotropicDiffusionMap(
        epsilon=dmap.epsilon_, n_components="reconstruction", reconstruction_tol=0.05
    ).fit(X)
    assert tighter.n_components_ > m
    assert tighter.reconstruction_error_ <= 0.05


def test_float_epsilon_means_reconstruction(small_cloud):
    dmap = AnisotropicDiffusionMap(epsilon=2.0).fit(small_cloud)
    assert dmap.epsilon_rule_ == "given"
    assert dmap.n_components_rule_ == "reconstruction"


def test_unwhitened_or_anisotropic_auto_is_knn(small_cloud):
    dmap = AnisotropicDiffusionMap().fit(small_cloud * [1.0, 3.0, 1.0])
    assert (dmap.epsilon_rule_, dmap.n_components_rule_) == ("knn", "reconstruction")
    dmap = AnisotropicDiffusionMap(metric=np.array([1.0, 5.0, 0.1])).fit(small_cloud)
    assert (dmap.epsilon_rule_, dmap.n_components_rule_) == ("knn", "reconstruction")


def test_gap_rule_falls_back_and_says_so(small_cloud):
    # Force the failure: the ratio decays like 1/epsilon in the linear regime and
    # cannot reach 1e-9 within the search range.
    dmap = AnisotropicDiffusionMap(
        epsilon="gap", gap_threshold=1e-9, metric=np.array([1.0, 4.0, 0.5])
    )
    with pytest.warns(DiffusionMapWarning, match="found nothing"):
        dmap.fit(small_cloud)
    assert dmap.epsilon_rule_ == "knn (no gap found)"
    assert dmap.n_components_rule_ == "reconstruction (no gap found)"
    knn = AnisotropicDiffusionMap(epsilon="knn", metric=dmap.metric).fit(small_cloud)
    assert dmap.epsilon_ == knn.epsilon_


def test_gap_rule_impossible_with_few_rows():
    X = whiten(np.random.default_rng(0).normal(size=(6, 5)))
    with pytest.warns(DiffusionMapWarning, match="only n_samples=6"):
        dmap = AnisotropicDiffusionMap(epsilon="gap").fit(X)
    assert dmap.epsilon_rule_ == "knn (no gap found)"


# ------------------------------------------------------------- transforms


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.0])
def test_nystrom_reproduces_training_basis(small_cloud, kappa):
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=10, kappa=kappa)
    G = dmap.fit(small_cloud).transform(small_cloud)
    np.testing.assert_allclose(G, dmap.embedding_, rtol=1e-9, atol=1e-13)


def test_fit_transform_equals_fit_then_transform(small_cloud):
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=10)
    G1 = dmap.fit_transform(small_cloud)
    G2 = AnisotropicDiffusionMap(epsilon=0.8, n_components=10).fit(small_cloud)
    np.testing.assert_array_equal(G1, G2.transform(small_cloud))


def test_far_rows_are_finite_and_follow_the_nearest(small_cloud):
    dmap = AnisotropicDiffusionMap(epsilon=0.05, n_components=5).fit(small_cloud)
    far = small_cloud[[11]] * 1e3
    G = dmap.transform(far)
    assert np.all(np.isfinite(G))
    nearest = np.argmin(((small_cloud - far) ** 2).sum(1))
    expected = dmap.eigenvectors_[nearest] * dmap.eigenvalues_ ** (dmap.kappa - 1)
    np.testing.assert_allclose(G[0], expected, rtol=1e-9)


def test_kappa_changes_scale_not_span(small_cloud):
    maps = [
        AnisotropicDiffusionMap(epsilon=0.8, n_components=8, kappa=k).fit(small_cloud)
        for k in (0.0, 1.0, 2.0)
    ]
    P0 = projector(maps[0].embedding_)
    for dmap in maps[1:]:
        np.testing.assert_allclose(projector(dmap.embedding_), P0, atol=1e-10)
        np.testing.assert_allclose(
            dmap.inverse_transform(dmap.embedding_),
            maps[0].inverse_transform(maps[0].embedding_),
            atol=1e-10,
        )


def test_arpack_agrees_with_dense(correlated_gaussian):
    eta = whiten(correlated_gaussian)
    dense = AnisotropicDiffusionMap(epsilon=55.0, n_components=20).fit(eta)
    arpack = AnisotropicDiffusionMap(
        epsilon=55.0, n_components=20, eigen_solver="arpack", random_state=0
    ).fit(eta)
    np.testing.assert_allclose(arpack.eigenvalues_, dense.eigenvalues_, rtol=1e-9)
    np.testing.assert_allclose(
        projector(arpack.embedding_), projector(dense.embedding_), atol=1e-7
    )


def test_deterministic_signs_and_refit(small_cloud):
    a = AnisotropicDiffusionMap(epsilon=0.8, n_components=6).fit(small_cloud)
    b = AnisotropicDiffusionMap(epsilon=0.8, n_components=6).fit(small_cloud.copy())
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    idx = np.argmax(np.abs(a.eigenvectors_), axis=0)
    assert np.all(a.eigenvectors_[idx, np.arange(6)] > 0)


def test_training_data_is_copied(small_cloud):
    X = small_cloud.copy()
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=6).fit(X)
    G = dmap.transform(small_cloud)
    X[:] = 0.0
    np.testing.assert_array_equal(dmap.transform(small_cloud), G)


def test_joblib_round_trip(tmp_path, small_cloud):
    dmap = AnisotropicDiffusionMap().fit(small_cloud)
    joblib.dump(dmap, tmp_path / "dmap.joblib")
    loaded = joblib.load(tmp_path / "dmap.joblib")
    np.testing.assert_array_equal(
        loaded.transform(small_cloud), dmap.transform(small_cloud)
    )
    assert loaded.epsilon_ == dmap.epsilon_


def test_feature_names_and_pandas_output(small_cloud):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(small_cloud, columns=["a", "b", "c"])
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=3).set_output(
        transform="pandas"
    )
    out = dmap.fit_transform(df)
    names = [
        "anisotropicdiffusionmap0",
        "anisotropicdiffusionmap1",
        "anisotropicdiffusionmap2",
    ]
    assert list(out.columns) == names
    assert list(dmap.get_feature_names_out()) == names


# -------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "X", "match"),
    [
        ({}, np.full((10, 3), np.nan), "NaN"),
        ({}, np.r_[np.zeros((9, 3)), [[np.inf, 0, 0]]], "infinity"),
        ({}, np.ones((2, 3)), "minimum of 3"),
        ({}, np.tile([1.0, 2.0, 3.0], (10, 1)), "All rows are identical"),
        ({"n_components": 11}, "cloud10", "exceeds n_samples=10"),
        ({"n_components": "gap"}, "cloud10x12", "needs m = n_features"),
        ({"metric": np.ones(4)}, "cloud10", "metric has 4 weights"),
        ({"metric": -np.ones(3)}, "cloud10", "non-negative"),
        ({"metric": np.ones((2, 4))}, "cloud10", r"shape \(2, 4\)"),
        ({"epsilon": "silverman"}, "cloud10", "not a known rule"),
        ({"epsilon": -1.0}, "cloud10", "positive finite"),
        ({"n_components": 0}, "cloud10", "int >= 1"),
        ({"gap_threshold": 1.5}, "cloud10", "gap_threshold"),
        ({"eigen_solver": "lobpcg"}, "cloud10", "eigen_solver"),
    ],
)
def test_bad_input_is_a_clear_error(params, X, match):
    rng = np.random.default_rng(0)
    if isinstance(X, str):
        X = rng.normal(size=(10, 12 if X.endswith("x12") else 3))
    with pytest.raises(ValueError, match=match):
        AnisotropicDiffusionMap(**params).fit(X)


def test_n_components_beyond_numerical_rank_of_the_operator():
    # A huge bandwidth makes all but a handful of eigenvalues numerically zero.
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="numerically non-zero"):
        AnisotropicDiffusionMap(epsilon=1e9, n_components=30).fit(X)


def test_inverse_transform_width_check(small_cloud):
    dmap = AnisotropicDiffusionMap(epsilon=0.8, n_components=5).fit(small_cloud)
    with pytest.raises(ValueError, match="expects n_components_=5"):
        dmap.inverse_transform(np.zeros((2, 4)))


def test_no_warning_on_the_happy_path(helix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AnisotropicDiffusionMap().fit(whiten(helix))


def test_knn_rule_with_many_duplicates_says_so():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(5, 2)), 12, axis=0)  # each row 12 times
    with pytest.warns(DiffusionMapWarning, match="exact duplicates"):
        dmap = AnisotropicDiffusionMap(epsilon="knn", n_components=3).fit(X)
    assert dmap.epsilon_rule_ == "knn (duplicates: median distance)"
    D2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    assert dmap.epsilon_ == pytest.approx(np.median(D2[D2 > 0]) / 4)


def test_explicit_gap_m_without_a_gap_warns_about_m(small_cloud):
    dmap = AnisotropicDiffusionMap(
        epsilon="gap", n_components="gap", gap_threshold=1e-9
    )
    with pytest.warns(DiffusionMapWarning, match="still keeps m = n_features"):
        dmap.fit(small_cloud)
    assert dmap.n_components_ == 4
    assert dmap.n_components_rule_ == "gap"


# ------------------------------------------------------------ large-N paths


@pytest.fixture(scope="module")
def gaussian_10d(correlated_gaussian):
    return whiten(correlated_gaussian[:, :10])


def test_arpack_gap_rule_matches_dense_at_the_selected_epsilon(gaussian_10d):
    """The approximation (Lanczos) against the dense result where the rule lands."""
    dense = AnisotropicDiffusionMap(eigen_solver="dense").fit(gaussian_10d)
    arpack = AnisotropicDiffusionMap(eigen_solver="arpack", random_state=0).fit(
        gaussian_10d
    )
    assert dense.epsilon_rule_ == arpack.epsilon_rule_ == "gap"
    assert (dense.eigen_solver_, arpack.eigen_solver_) == ("dense", "arpack")
    # Same evaluations up to round-off, hence the same bracket.
    assert arpack.epsilon_ == pytest.approx(dense.epsilon_, rel=1e-12)
    np.testing.assert_allclose(arpack.eigenvalues_, dense.eigenvalues_, rtol=1e-10)
    assert arpack.gap_ratio_ == pytest.approx(dense.gap_ratio_, rel=1e-9)
    np.testing.assert_allclose(
        projector(arpack.eigenvectors_), projector(dense.eigenvectors_), atol=1e-8
    )


def test_auto_solver_is_recorded(gaussian_10d, monkeypatch):
    import skaidm._kernels

    small = AnisotropicDiffusionMap().fit(gaussian_10d)
    assert small.eigen_solver_ == "dense"
    # The reconstruction rule needs every eigenvalue: dense whatever N.
    assert AnisotropicDiffusionMap(epsilon="knn").fit(gaussian_10d).eigen_solver_ == (
        "dense"
    )
    monkeypatch.setattr(skaidm._kernels, "DENSE_EIGEN_MAX_ROWS", 100)
    large = AnisotropicDiffusionMap(random_state=0).fit(gaussian_10d)
    assert large.eigen_solver_ == "arpack"
    assert large.epsilon_ == pytest.approx(small.epsilon_, rel=1e-12)


def test_float32_kernel_path_matches_float64(gaussian_10d, monkeypatch):
    """Stated tolerance of the float32 storage: 1e-6 relative on eigenvalues."""
    import skaidm._kernels

    ref = AnisotropicDiffusionMap(random_state=0).fit(gaussian_10d)
    monkeypatch.setattr(skaidm._kernels, "FLOAT32_MIN_ROWS", 100)
    monkeypatch.setattr(skaidm._kernels, "KERNEL_BLOCK_ROWS", 64)
    for solver in ("dense", "arpack"):
        f32 = AnisotropicDiffusionMap(eigen_solver=solver, random_state=0).fit(
            gaussian_10d
        )
        assert f32.epsilon_rule_ == "gap"
        # The ratios differ by ~1e-7, so the search may land elsewhere within its
        # 0.1% bracket (measured: 1.5e-7 apart).
        assert f32.epsilon_ == pytest.approx(ref.epsilon_, rel=1e-3)
        assert f32.gap_ratio_ <= 0.1
        # At the bandwidth the rule selected for float64:
        at_ref = AnisotropicDiffusionMap(
            epsilon=ref.epsilon_,
            n_components=ref.n_components_,
            eigen_solver=solver,
            random_state=0,
        ).fit(gaussian_10d)
        np.testing.assert_allclose(at_ref.row_sums_, ref.row_sums_, rtol=1e-6)
        np.testing.assert_allclose(at_ref.eigenvalues_, ref.eigenvalues_, rtol=1e-6)
        assert at_ref.gap_ratio_ == pytest.approx(ref.gap_ratio_, rel=1e-6)
        np.testing.assert_allclose(
            projector(at_ref.eigenvectors_), projector(ref.eigenvectors_), atol=1e-5
        )
