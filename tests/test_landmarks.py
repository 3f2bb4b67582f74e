"""Landmark (Nystrom) diffusion-map basis: exactness, accuracy against dense, PLoM."""

import numpy as np
import pytest
import scipy.linalg
from sklearn.utils.estimator_checks import parametrize_with_checks

import skaidm._kernels
import skaidm.diffusion
from skaidm import AnisotropicDiffusionMap, PLoMSampler, WhiteningPCA
from skaidm.datasets import make_correlated_gaussian


def whitened_gaussian(n_samples, seed=0):
    X = make_correlated_gaussian(
        n_samples, 10, rho=0.9, random_state=np.random.default_rng(seed)
    )
    return WhiteningPCA().fit_transform(X)


def projector(A):
    Q, _ = np.linalg.qr(A)
    return Q @ Q.T


def largest_principal_angle(A, B):
    """Largest principal angle between span(A) and span(B), in degrees."""
    QA, _ = np.linalg.qr(A)
    QB, _ = np.linalg.qr(B)
    cosines = np.clip(scipy.linalg.svdvals(QA.T @ QB), 0.0, 1.0)
    return float(np.degrees(np.arccos(cosines.min())))


@pytest.fixture(scope="module")
def eta300():
    return whitened_gaussian(300)


@pytest.fixture(scope="module")
def eta1500():
    return whitened_gaussian(1500)


# ------------------------------------------------------------------ exactness


@pytest.mark.parametrize("epsilon", [3.0, "auto"])
def test_all_rows_as_landmarks_is_the_dense_fit(eta300, epsilon):
    """L = N: the Nystrom extension of every row gives back the dense basis."""
    n = len(eta300)
    dense = AnisotropicDiffusionMap(epsilon=epsilon, n_landmarks=None).fit(eta300)
    full = AnisotropicDiffusionMap(epsilon=epsilon, n_landmarks=n).fit(eta300)
    np.testing.assert_array_equal(full.landmarks_, np.arange(n))
    assert full.epsilon_ == dense.epsilon_
    assert full.n_components_ == dense.n_components_
    np.testing.assert_allclose(full.eigenvalues_, dense.eigenvalues_, rtol=1e-13)
    # The extension divides P psi by lambda; psi is O(1 / sqrt(sum b)).
    scale = np.abs(dense.eigenvectors_).max()
    np.testing.assert_allclose(
        full.eigenvectors_, dense.eigenvectors_, rtol=0, atol=1e-10 * scale
    )
    np.testing.assert_allclose(full.row_sums_, dense.row_sums_, rtol=1e-12)
    np.testing.assert_allclose(
        projector(full.eigenvectors_), projector(dense.eigenvectors_), atol=1e-10
    )
    assert full.reconstruction_error_ == pytest.approx(
        dense.reconstruction_error_, rel=1e-10
    )


def test_extension_equals_landmark_eigenvectors_at_the_landmarks(eta300):
    """At a landmark the extension is the landmark operator's eigenvector."""
    lm = AnisotropicDiffusionMap(
        epsilon=4.0, n_components=8, n_landmarks=90, random_state=0
    ).fit(eta300)
    idx = lm.landmarks_
    # Independent: the dense diffusion map of the landmark rows alone.
    sub = AnisotropicDiffusionMap(epsilon=4.0, n_components=8, n_landmarks=None)
    sub.fit(eta300[idx])
    np.testing.assert_allclose(lm.eigenvalues_, sub.eigenvalues_, rtol=1e-13)
    scale = np.abs(sub.eigenvectors_).max()
    np.testing.assert_allclose(
        lm.eigenvectors_[idx], sub.eigenvectors_, rtol=0, atol=1e-10 * scale
    )
    np.testing.assert_allclose(lm.row_sums_[idx], sub.row_sums_, rtol=1e-12)
    # Normalisation psi_L^T b_L psi_L = I holds on the landmarks.
    psi, b = lm.eigenvectors_[idx], lm.row_sums_[idx]
    np.testing.assert_allclose(psi.T @ (b[:, None] * psi), np.eye(8), atol=1e-10)


def test_extension_formula_on_the_other_rows(eta300):
    """psi(x_i) = sum_j k(x_i, x_j) psi_L(x_j) / (lambda b_i), b_i over landmarks."""
    eps = 4.0
    lm = AnisotropicDiffusionMap(
        epsilon=eps, n_components=6, n_landmarks=60, random_state=1
    ).fit(eta300)
    idx = lm.landmarks_
    others = np.setdiff1d(np.arange(len(eta300)), idx)[:25]
    psi_L = lm.eigenvectors_[idx]
    for i in others:
        k = np.exp(-np.sum((eta300[idx] - eta300[i]) ** 2, axis=1) / (4 * eps))
        assert lm.row_sums_[i] == pytest.approx(k.sum(), rel=1e-12)
        expected = (k @ psi_L) / (k.sum() * lm.eigenvalues_)
        np.testing.assert_allclose(
            lm.eigenvectors_[i], expected, rtol=1e-10, atol=1e-12 * np.abs(psi_L).max()
        )
    np.testing.assert_allclose(
        lm.embedding_, lm.eigenvectors_ * lm.eigenvalues_, rtol=1e-15
    )
    # transform averages over the landmarks: it reproduces the training basis.
    np.testing.assert_allclose(lm.transform(eta300), lm.embedding_, atol=1e-12)


def test_never_forms_an_n_by_n_array(eta300, monkeypatch):
    n, L = len(eta300), 50
    shapes = []
    original = skaidm._kernels.squared_distances

    def recording(Y, Z=None, **kwargs):
        D2 = original(Y, Z, **kwargs)
        shapes.append(D2.shape)
        return D2

    monkeypatch.setattr(skaidm._kernels, "squared_distances", recording)
    monkeypatch.setattr(skaidm.diffusion, "squared_distances", recording)
    monkeypatch.setattr(skaidm.diffusion, "TRANSFORM_BLOCK", 64)
    dmap = AnisotropicDiffusionMap(n_landmarks=L, random_state=0).fit(eta300)
    assert dmap.eigenvectors_.shape == (n, dmap.n_components_)
    assert (L, L) in shapes
    assert (64, L) in shapes  # the blocked extension
    assert all(max(shape) <= L or min(shape) <= 64 for shape in shapes), shapes


# ---------------------------------------------------------- landmark choice


def test_landmarks_are_reproducible_from_random_state(eta300):
    a = AnisotropicDiffusionMap(n_landmarks=100, random_state=3).fit(eta300)
    b = AnisotropicDiffusionMap(n_landmarks=100, random_state=3).fit(eta300)
    c = AnisotropicDiffusionMap(n_landmarks=100, random_state=4).fit(eta300)
    np.testing.assert_array_equal(a.landmarks_, b.landmarks_)
    np.testing.assert_array_equal(a.eigenvectors_, b.eigenvectors_)
    assert a.epsilon_ == b.epsilon_
    assert not np.array_equal(a.landmarks_, c.landmarks_)
    for dmap in (a, c):
        assert dmap.n_landmarks_ == 100
        assert np.all(np.diff(dmap.landmarks_) > 0)  # sorted, no repeats
        assert dmap.landmarks_[0] >= 0
        assert dmap.landmarks_[-1] < len(eta300)


def test_landmarks_are_a_uniform_subset():
    """Every row is a landmark with probability L / N (chi-square over 400 fits)."""
    X = np.random.default_rng(0).normal(size=(30, 2))
    n, L, fits = len(X), 10, 400
    counts = np.zeros(n)
    for seed in range(fits):
        dmap = AnisotropicDiffusionMap(
            epsilon=1.0, n_components=3, n_landmarks=L, random_state=seed
        ).fit(X)
        counts[dmap.landmarks_] += 1
    expected = fits * L / n
    chi2 = np.sum((counts - expected) ** 2 / expected)
    # 29 degrees of freedom (slightly fewer: the counts sum to fits * L);
    # P(chi2 > 65) < 1e-4 for a uniform choice.
    assert chi2 < 65.0, chi2


def test_auto_is_dense_up_to_the_threshold(eta300, monkeypatch):
    monkeypatch.setattr(skaidm.diffusion, "AUTO_DENSE_MAX_ROWS", 300)
    monkeypatch.setattr(skaidm.diffusion, "AUTO_N_LANDMARKS", 120)
    dense = AnisotropicDiffusionMap(random_state=0).fit(eta300)
    assert dense.n_landmarks_ == 300
    np.testing.assert_array_equal(dense.landmarks_, np.arange(300))
    monkeypatch.setattr(skaidm.diffusion, "AUTO_DENSE_MAX_ROWS", 299)
    lm = AnisotropicDiffusionMap(random_state=0).fit(eta300)
    assert lm.n_landmarks_ == 120
    assert lm.eigenvectors_.shape == (300, lm.n_components_)


# --------------------------------------------------- accuracy against dense


def test_landmark_basis_against_dense_at_the_same_epsilon(eta1500):
    """L = 500 of N = 1500 rows, gap rule on the landmarks; dense at that epsilon.

    Measured over random_state 0-5: largest principal angle 0.8-1.3 degrees;
    non-trivial eigenvalues within 16-21% of the dense ones, the landmark ones more
    spread (the ten near-equal eigenvalues of the linear eigenvectors, estimated
    from L rows), their mean within 0.4-3.3%; the dense gap ratio at that epsilon
    0.050-0.063. A random 11-dimensional subspace is at about 90 degrees.
    """
    lm = AnisotropicDiffusionMap(n_landmarks=500, random_state=0).fit(eta1500)
    assert lm.epsilon_rule_ == "gap"
    assert lm.n_components_ == 11
    dense = AnisotropicDiffusionMap(
        epsilon=lm.epsilon_, n_components=11, n_landmarks=None, random_state=0
    ).fit(eta1500)
    angle = largest_principal_angle(lm.eigenvectors_, dense.eigenvectors_)
    assert angle < 2.0, angle
    assert lm.eigenvalues_[0] == pytest.approx(1.0, abs=1e-12)
    lam_lm, lam_dense = lm.eigenvalues_[1:], dense.eigenvalues_[1:]
    assert np.abs(lam_lm / lam_dense - 1.0).max() < 0.3
    assert lam_lm.mean() == pytest.approx(lam_dense.mean(), rel=0.05)
    # The gap the rule found on the landmarks is there in the dense spectrum too.
    assert dense.gap_ratio_ <= 0.1
    # Both bases reconstruct the whitened data equally well.
    assert lm.reconstruction_error_ == pytest.approx(
        dense.reconstruction_error_, abs=0.02
    )


# ------------------------------------------------------------------- PLoM


def _plom_statistics(n_landmarks, seeds, X):
    """Mean whitened variance and d^2 = E||H - eta||^2 / ||eta||^2 per seed."""
    out = []
    for seed in seeds:
        plom = PLoMSampler(
            diffusion_map=AnisotropicDiffusionMap(
                n_landmarks=n_landmarks, random_state=seed
            ),
            random_state=seed,
        ).fit(X)
        H = plom.sample_whitened(2, random_state=100 + seed)
        eta = plom.eta_
        var = H.reshape(-1, H.shape[-1]).var(axis=0).mean()
        d2 = np.mean([np.sum((h - eta) ** 2) for h in H]) / np.sum(eta**2)
        out.append((var, d2))
    return np.array(out)


def test_plom_on_a_landmark_basis_matches_dense():
    X = make_correlated_gaussian(
        600, 10, rho=0.9, random_state=np.random.default_rng(0)
    )
    seeds = range(4)
    dense = _plom_statistics(None, seeds, X)
    landmark = _plom_statistics(200, seeds, X)
    diff = landmark.mean(axis=0) - dense.mean(axis=0)
    se = np.sqrt(
        landmark.var(axis=0, ddof=1) / len(seeds)
        + dense.var(axis=0, ddof=1) / len(seeds)
    )
    assert np.all(np.abs(diff) <= 4 * se + 1e-12), (diff, se)


# ------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (2, "int >= 3"),
        (0, "int >= 3"),
        (2.5, "int >= 3"),
        (True, "int >= 3"),
        ("all", "not a known rule"),
    ],
)
def test_bad_n_landmarks_is_a_clear_error(eta300, value, match):
    with pytest.raises(ValueError, match=match):
        AnisotropicDiffusionMap(n_landmarks=value).fit(eta300)


def test_too_few_landmarks_for_the_rules_say_so(eta300):
    with pytest.raises(ValueError, match="exceeds landmarks"):
        AnisotropicDiffusionMap(n_components=20, n_landmarks=10).fit(eta300)
    with pytest.raises(ValueError, match="or more landmarks"):
        AnisotropicDiffusionMap(n_components="gap", n_landmarks=10).fit(eta300)


@parametrize_with_checks([AnisotropicDiffusionMap(n_landmarks=8, random_state=0)])
def test_sklearn_compatible_with_landmarks(estimator, check):
    check(estimator)
