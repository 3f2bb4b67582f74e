"""The two AIDM variants on real spectra: the Option A trap and Option B's metric."""

import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler

from skaidm import AnisotropicDiffusionMap, AttentionPreconditioner, WhiteningPCA
from skaidm._kernels import apply_metric, squared_distances
from skaidm.attention import (
    AttentionCancelledWarning,
    check_attention_whitening,
    kernel_metric_factor,
)
from skaidm.datasets import load_usgs_minerals


@pytest.fixture(scope="module")
def scaled_spectra():
    """150 robust-scaled USGS spectra (285 bands, so whitening rank N - 1 = 149)."""
    X = load_usgs_minerals().data
    rows = np.random.default_rng(0).choice(len(X), 150, replace=False)
    return RobustScaler().fit_transform(X)[rows]


@pytest.fixture(scope="module")
def attention(scaled_spectra):
    w = np.random.default_rng(1).uniform(0.05, 1.0, scaled_spectra.shape[1])
    return AttentionPreconditioner(weights=w, alpha=1.0).fit(scaled_spectra)


def kernel(eta, epsilon, metric=None):
    return np.exp(-squared_distances(apply_metric(eta, metric)) / (4 * epsilon))


def test_full_rank_preconditioning_is_a_no_op(scaled_spectra, attention):
    X = scaled_spectra
    plain = WhiteningPCA().fit(X)
    pre = WhiteningPCA().fit(attention.transform(X))
    assert plain.n_components_ == pre.n_components_ == 149
    eta0, etaA = plain.transform(X), pre.transform(attention.transform(X))
    # Whitened data differ by an orthogonal rotation, so kernels coincide. Round-off
    # of whitening ill-conditioned spectra (condition ~1e3) sets the tolerance.
    K0, KA = kernel(eta0, 60.0), kernel(etaA, 60.0)
    assert np.abs(K0 - KA).max() < 1e-11
    Q = np.linalg.lstsq(eta0, etaA, rcond=None)[0]
    np.testing.assert_allclose(Q.T @ Q, np.eye(149), atol=1e-8)
    d0 = AnisotropicDiffusionMap(epsilon=60.0, n_components=40).fit(eta0)
    dA = AnisotropicDiffusionMap(epsilon=60.0, n_components=40).fit(etaA)
    np.testing.assert_allclose(dA.eigenvalues_, d0.eigenvalues_, atol=1e-12)
    # And skaidm says so.
    with pytest.warns(AttentionCancelledWarning, match="weights cancel"):
        assert check_attention_whitening(attention, pre)


def test_truncated_preconditioning_changes_the_model(scaled_spectra, attention):
    X = scaled_spectra
    plain = WhiteningPCA(n_components=0.999).fit(X)
    pre = WhiteningPCA(n_components=0.999).fit(attention.transform(X))
    # The rank chosen by a variance fraction itself moves with the weights.
    assert plain.truncation_error_ > 1e-8
    assert pre.truncation_error_ > 1e-8
    r = min(plain.n_components_, pre.n_components_)
    K0 = kernel(plain.transform(X)[:, :r], 60.0)
    KA = kernel(pre.transform(attention.transform(X))[:, :r], 60.0)
    assert np.abs(K0 - KA).max() > 1e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_attention_whitening(attention, pre)


def test_uniform_weights_never_warn(scaled_spectra):
    uniform = AttentionPreconditioner().fit(scaled_spectra)
    full = WhiteningPCA().fit(scaled_spectra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_attention_whitening(uniform, full)


def test_warning_from_a_fitted_pipeline(scaled_spectra, attention):
    pipe = make_pipeline(
        AttentionPreconditioner(weights=attention.weights), WhiteningPCA()
    ).fit(scaled_spectra)
    with pytest.warns(AttentionCancelledWarning):
        check_attention_whitening(pipe[0], pipe[1])


def test_option_b_metric_is_the_band_metric(scaled_spectra, attention):
    X = scaled_spectra
    whitening = WhiteningPCA().fit(X)
    eta = whitening.transform(X)
    R = kernel_metric_factor(whitening, attention)
    assert R.shape == (285, 149)
    # Normalised so that trace(M_eta) = r, the trace of the isotropic metric.
    assert np.trace(R.T @ R) == pytest.approx(149, rel=1e-12)
    # ||R (eta - eta')||^2 = c^2 ||S (x - x')||^2 at full rank, with the constant
    # computed independently from the unnormalised factor.
    raw = (
        attention.scale_[:, None]
        * whitening.components_.T
        * np.sqrt(whitening.explained_variance_)
    )
    c2 = 149 / np.sum(raw**2)
    D_eta = squared_distances(apply_metric(eta, R))
    D_band = squared_distances(attention.transform(X))
    assert np.abs(D_eta - c2 * D_band).max() <= 1e-12 * D_eta.max()
    # Hence the diffusion map with metric R on eta is the one on S x at the
    # correspondingly rescaled bandwidth.
    eps = 30.0
    on_eta = AnisotropicDiffusionMap(epsilon=eps, n_components=30, metric=R).fit(eta)
    on_bands = AnisotropicDiffusionMap(epsilon=eps / c2, n_components=30).fit(
        attention.transform(X)
    )
    np.testing.assert_allclose(on_eta.eigenvalues_, on_bands.eigenvalues_, atol=1e-12)


def test_option_b_uniform_weights_is_the_euclidean_band_metric(scaled_spectra):
    whitening = WhiteningPCA().fit(scaled_spectra)
    R = kernel_metric_factor(whitening)
    eta = whitening.transform(scaled_spectra)
    # Uniform weights: M_eta = R^T R is Lambda rescaled to trace r, i.e. the
    # Euclidean metric of the scaled bands (not the identity of plain PLoM).
    M = R.T @ R
    expected = np.diag(whitening.explained_variance_)
    expected *= 149 / whitening.explained_variance_.sum()
    np.testing.assert_allclose(M, expected, atol=1e-12 * np.abs(expected).max())
    D = squared_distances(apply_metric(eta, R))
    D_band = squared_distances(scaled_spectra)
    c2 = 149 / whitening.explained_variance_.sum()
    assert np.abs(D - c2 * D_band).max() <= 1e-12 * D.max()


def test_metric_factor_skips_constant_bands(scaled_spectra, attention):
    X = scaled_spectra.copy()
    X[:, 130:140] = -0.01  # a filled bad-band window
    whitening = WhiteningPCA().fit(X)
    pre = AttentionPreconditioner(weights=attention.weights).fit(X)
    R = kernel_metric_factor(whitening, pre)
    assert R.shape == (275, whitening.n_components_)
    eta = whitening.transform(X)
    c2 = whitening.n_components_ / np.sum(
        (
            pre.scale_[whitening.constant_features_ == 0][:, None]
            * whitening.components_.T
            * np.sqrt(whitening.explained_variance_)
        )
        ** 2
    )
    D_band = squared_distances(pre.transform(X))
    D_eta = squared_distances(apply_metric(eta, R))
    assert np.abs(D_eta - c2 * D_band).max() <= 1e-12 * D_eta.max()


def test_metric_factor_checks_alignment(scaled_spectra):
    whitening = WhiteningPCA().fit(scaled_spectra)
    other = AttentionPreconditioner().fit(scaled_spectra[:, :100])
    with pytest.raises(ValueError, match="fitted on 100 features but whitening on 285"):
        kernel_metric_factor(whitening, other)
