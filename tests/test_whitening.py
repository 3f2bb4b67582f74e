"""WhiteningPCA: F1, agreement with a dense eigendecomposition, ranks, round trips."""

import joblib
import numpy as np
import pytest

from skaidm import WhiteningPCA


def test_F1_whitened_moments(correlated_gaussian, helix):
    for X in (correlated_gaussian, helix):
        eta = WhiteningPCA().fit_transform(X)
        n = len(X)
        np.testing.assert_allclose(eta.mean(axis=0), 0.0, atol=1e-13)
        np.testing.assert_allclose(
            eta.T @ eta / (n - 1), np.eye(eta.shape[1]), atol=1e-13
        )


def test_agrees_with_dense_covariance_eigh(correlated_gaussian):
    X = correlated_gaussian
    pca = WhiteningPCA(n_components=20).fit(X)
    Xc = X - X.mean(axis=0)
    C = Xc.T @ Xc / (len(X) - 1)  # N - 1 convention
    mu, phi = np.linalg.eigh(C)
    mu, phi = mu[::-1], phi[:, ::-1]
    np.testing.assert_allclose(pca.explained_variance_, mu[:20], rtol=1e-12)
    np.testing.assert_allclose(
        pca.explained_variance_ratio_, mu[:20] / mu.sum(), rtol=1e-12
    )
    assert pca.truncation_error_ == pytest.approx(
        1 - mu[:20].sum() / mu.sum(), rel=1e-10
    )
    # Axes are unique up to sign: compare projectors.
    np.testing.assert_allclose(
        pca.components_.T @ pca.components_, phi[:, :20] @ phi[:, :20].T, atol=1e-10
    )
    # The whitening map itself, written out.
    eta_ref = Xc @ phi[:, :20] / np.sqrt(mu[:20])
    np.testing.assert_allclose(np.abs(pca.transform(X)), np.abs(eta_ref), atol=1e-10)


def test_full_rank_round_trip_is_exact(correlated_gaussian):
    X = correlated_gaussian
    pca = WhiteningPCA().fit(X)
    assert pca.n_components_ == pca.rank_ == 50
    assert pca.truncation_error_ < 1e-14
    X_back = pca.inverse_transform(pca.transform(X))
    np.testing.assert_allclose(X_back, X, rtol=0, atol=1e-12 * np.abs(X).max())
    eta = np.random.default_rng(1).normal(size=(7, 50))
    np.testing.assert_allclose(
        pca.transform(pca.inverse_transform(eta)), eta, atol=1e-12
    )


def test_truncated_round_trip_is_a_projector(correlated_gaussian):
    X = correlated_gaussian
    pca = WhiteningPCA(n_components=10).fit(X)
    X1 = pca.inverse_transform(pca.transform(X))
    X2 = pca.inverse_transform(pca.transform(X1))
    np.testing.assert_allclose(X2, X1, atol=1e-12)  # idempotent
    # The residual is orthogonal to the kept axes.
    np.testing.assert_allclose((X - X1) @ pca.components_.T, 0.0, atol=1e-11)
    assert not np.allclose(X1, X)


def test_variance_fraction_is_smallest_reaching(correlated_gaussian):
    X = correlated_gaussian
    full = WhiteningPCA().fit(X)
    cumulative = np.cumsum(full.explained_variance_ratio_)
    for fraction in (0.5, 0.9, 0.99):
        r = WhiteningPCA(n_components=fraction).fit(X).n_components_
        assert cumulative[r - 1] >= fraction
        assert r == 1 or cumulative[r - 2] < fraction


def test_more_bands_than_spectra_keeps_no_null_direction():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 60))  # rank of the centred data is N - 1 = 19
    pca = WhiteningPCA().fit(X)
    assert pca.rank_ == pca.n_components_ == 19
    eta = pca.transform(X)
    np.testing.assert_allclose(eta.T @ eta / 19, np.eye(19), atol=1e-12)
    with pytest.raises(ValueError, match="exceeds the numerical rank 19"):
        WhiteningPCA(n_components=20).fit(X)


def test_exactly_collinear_columns_reduce_the_rank():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(100, 3))
    X = np.c_[Z, Z @ [1.0, -2.0, 0.5], 3 * Z[:, 0]]
    pca = WhiteningPCA().fit(X)
    assert pca.rank_ == 3
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(X)), X, atol=1e-12)


def test_constant_columns_come_back_bit_exact():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(40, 8))
    # EMIT's fill value, and values that are not exactly representable in binary.
    X[:, 2] = -0.01
    X[:, 5] = 0.1
    X[:, 7] = 1.0 / 3.0
    pca = WhiteningPCA(n_components=3).fit(X)
    np.testing.assert_array_equal(
        pca.constant_features_, np.isin(np.arange(8), [2, 5, 7])
    )
    back = pca.inverse_transform(pca.transform(X))
    assert np.array_equal(back[:, [2, 5, 7]], X[:, [2, 5, 7]])
    fresh = pca.inverse_transform(rng.normal(size=(5, 3)))
    assert np.array_equal(fresh[:, 2], np.full(5, -0.01))
    assert np.array_equal(fresh[:, 5], np.full(5, 0.1))
    assert np.array_equal(fresh[:, 7], np.full(5, 1.0 / 3.0))
    assert pca.components_.shape == (3, 5)


def test_joblib_round_trip(tmp_path, correlated_gaussian):
    pca = WhiteningPCA(n_components=0.9).fit(correlated_gaussian)
    joblib.dump(pca, tmp_path / "pca.joblib")
    loaded = joblib.load(tmp_path / "pca.joblib")
    np.testing.assert_array_equal(
        loaded.transform(correlated_gaussian), pca.transform(correlated_gaussian)
    )


def test_pandas_output_and_feature_names(helix):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(helix, columns=["x", "y", "z"])
    pca = WhiteningPCA(n_components=2).set_output(transform="pandas")
    out = pca.fit_transform(df)
    assert list(out.columns) == ["whiteningpca0", "whiteningpca1"]
    assert list(pca.feature_names_in_) == ["x", "y", "z"]
    np.testing.assert_allclose(
        out.to_numpy(), WhiteningPCA(2).fit(helix).transform(helix)
    )


@pytest.mark.parametrize(
    ("n_components", "X", "match"),
    [
        (None, np.full((10, 3), np.nan), "NaN"),
        (None, np.ones((10, 4)), "All features are constant"),
        (None, np.tile(np.linspace(0, 1, 6), (12, 1)), "single spectrum repeated"),
        (None, np.ones((1, 4)), "minimum of 2"),
        (4, "random", "exceeds the numerical rank 3"),
        (0, "random", "at least 1"),
        (1.5, "random", "not valid"),
        ("mle", "random", "not valid"),
    ],
)
def test_bad_input_is_a_clear_error(n_components, X, match):
    if isinstance(X, str):
        X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=match):
        WhiteningPCA(n_components=n_components).fit(X)


def test_inverse_transform_width_check(helix):
    pca = WhiteningPCA().fit(helix)
    with pytest.raises(ValueError, match="expects n_components_=3"):
        pca.inverse_transform(np.zeros((2, 2)))
