"""Fidelity metrics and the generation scorer, against slow independent references."""

import itertools
import math
from typing import ClassVar

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import energy_distance as scipy_energy_distance
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

import skaidm
from skaidm.metrics import (
    band_mean_error,
    band_std_error,
    energy_distance,
    generation_scorer,
    maximum_mean_discrepancy,
    memorisation_ratio,
    two_sample_auc,
)

# Seeds of the statistical tests. Each threshold below comes with the probability
# that it fails for a fresh seed, so a failure after reseeding is meaningful.
SEEDS = [0, 1, 2, 3, 4]


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Small matrices: one BLAS thread is fastest and immune to a loaded machine."""
    with threadpool_limits(1):
        yield


# ------------------------------------------------------------------ references
def energy_u_reference(X, Y):
    """2 E|X-Y| - E|X-X'| - E|Y-Y'|: V across samples, U (i != j) within, by loops."""
    n, m = len(X), len(Y)
    xy = sum(math.dist(x, y) for x in X for y in Y) / (n * m)
    xx = sum(math.dist(X[i], X[j]) for i in range(n) for j in range(n) if i != j)
    yy = sum(math.dist(Y[i], Y[j]) for i in range(m) for j in range(m) if i != j)
    return 2 * xy - xx / (n * (n - 1)) - yy / (m * (m - 1))


def mmd_u_reference(X, Y, bandwidth=None):
    """Unbiased MMD^2, Gaussian kernel; median heuristic over distinct pooled pairs."""
    if bandwidth is None:
        Z = list(X) + list(Y)
        distances = [
            math.dist(Z[i], Z[j]) for i, j in itertools.combinations(range(len(Z)), 2)
        ]
        bandwidth = float(np.median(distances))

    def k(a, b):
        return math.exp(-(math.dist(a, b) ** 2) / (2 * bandwidth**2))

    n, m = len(X), len(Y)
    kxx = sum(k(X[i], X[j]) for i in range(n) for j in range(n) if i != j)
    kyy = sum(k(Y[i], Y[j]) for i in range(m) for j in range(m) if i != j)
    kxy = sum(k(x, y) for x in X for y in Y)
    return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m)


# ------------------------------------------------------------- energy distance
@pytest.mark.parametrize("seed", [0, 1])
def test_energy_distance_matches_double_loop_reference(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, 3))
    Y = rng.normal(0.3, 1.5, size=(11, 3))
    expected = energy_u_reference(X, Y)
    assert energy_distance(X, Y) == pytest.approx(expected, rel=1e-12, abs=1e-14)
    # Symmetric in its arguments.
    assert energy_distance(Y, X) == pytest.approx(energy_distance(X, Y), rel=1e-13)


def test_energy_distance_vs_scipy_v_statistic_in_1d():
    """scipy uses V-statistics everywhere and returns the square root.

    scipy.stats.energy_distance(u, v) = sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|) with every
    expectation a V-statistic (all n^2 pairs, diagonal zeros included); skaidm
    returns the *squared* distance with U-statistics within samples (i != j). Since
    the diagonal terms are zero, sum_{i != j} = sum_{i, j}, and

        U = 2 vxy - n/(n-1) vxx - m/(m-1) vyy = V - vxx/(n-1) - vyy/(m-1).
    """
    rng = np.random.default_rng(3)
    u = rng.normal(size=13)
    v = rng.standard_t(4, size=8) + 0.4
    n, m = len(u), len(v)
    vxy = np.abs(u[:, None] - v[None, :]).mean()
    vxx = np.abs(u[:, None] - u[None, :]).mean()
    vyy = np.abs(v[:, None] - v[None, :]).mean()
    v_stat = 2 * vxy - vxx - vyy
    # Our hand V-statistic is scipy's, squared.
    assert scipy_energy_distance(u, v) ** 2 == pytest.approx(v_stat, rel=1e-12)
    # And skaidm's U version differs by exactly the diagonal correction.
    expected_u = scipy_energy_distance(u, v) ** 2 - vxx / (n - 1) - vyy / (m - 1)
    got = energy_distance(u[:, None], v[:, None])
    assert got == pytest.approx(expected_u, rel=1e-12)
    assert got < v_stat  # the V-statistic is biased upwards


def test_energy_distance_is_unbiased_where_the_v_statistic_is_not():
    # Tiny samples of one distribution: the U-statistic has mean exactly 0, the
    # V-statistic mean E|X-X'| (1/n + 1/m) = (2/sqrt(pi)) 0.4 = 0.45 here. The
    # per-draw sd is ~0.38 (measured), so the mean of 4000 draws has sd ~0.006:
    # |mean| < 0.03 (5 sd) fails with probability ~1e-6.
    rng = np.random.default_rng(0)
    values = [
        energy_distance(rng.normal(size=(5, 1)), rng.normal(size=(5, 1)))
        for _ in range(4000)
    ]
    assert abs(np.mean(values)) < 0.03
    assert min(values) < 0  # an unbiased estimate of 0 must go negative


def test_energy_distance_near_zero_for_one_distribution_positive_for_shift():
    # n = 400, 2-D, standard normal. Under the null the statistic has sd 0.0048 and
    # a heavy right tail: over 3000 seeds |value| never exceeded 0.028, so
    # |value| < 0.03 fails with probability < 3e-4 per seed; the mean over 5 seeds
    # (sd ~0.002) is below 0.01 with probability > 1 - 1e-4. With a shift of 0.5 in
    # each coordinate the population value is ~0.25 (0.21-0.28 over seeds).
    null, shifted = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        X, Y, Z = (rng.normal(size=(400, 2)) for _ in range(3))
        null.append(energy_distance(X, Y))
        shifted.append(energy_distance(X, Z + 0.5))
    assert np.abs(null).max() < 0.03
    assert abs(np.mean(null)) < 0.01
    assert min(shifted) > 0.1


@pytest.mark.parametrize(
    ("X", "Y", "match"),
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), "features"),
        (np.zeros((1, 2)), np.zeros((5, 2)), "X needs at least 2 rows"),
        (np.zeros((5, 2)), np.zeros((1, 2)), "Y needs at least 2 rows"),
    ],
)
def test_pair_validation(X, Y, match):
    for metric in (energy_distance, maximum_mean_discrepancy, band_mean_error):
        with pytest.raises(ValueError, match=match):
            metric(X, Y)


# ------------------------------------------------------------------------ MMD
def test_mmd_median_heuristic_matches_slow_reference():
    # 13 + 9 = 22 pooled rows -> 231 distinct pairs, an odd count, so the median
    # is one pairwise distance and every convention for it agrees exactly.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(13, 4))
    Y = rng.normal(0.5, 1.2, size=(9, 4))
    expected = mmd_u_reference(X, Y)
    got = maximum_mean_discrepancy(X, Y)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-14)
    assert maximum_mean_discrepancy(Y, X) == pytest.approx(got, rel=1e-12)


@pytest.mark.parametrize("bandwidth", [0.3, 2.0])
def test_mmd_explicit_bandwidth(bandwidth):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(10, 3))
    Y = rng.normal(0.7, 1.0, size=(12, 3))
    got = maximum_mean_discrepancy(X, Y, bandwidth=bandwidth)
    assert got == pytest.approx(mmd_u_reference(X, Y, bandwidth), rel=1e-10)
    # The bandwidth is really used: it is not the median heuristic's value.
    assert abs(got - mmd_u_reference(X, Y)) > 1e-3


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, np.nan, np.inf])
def test_mmd_rejects_invalid_bandwidth(bandwidth):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        maximum_mean_discrepancy(X, Y, bandwidth=bandwidth)


def test_mmd_is_unbiased_with_fixed_bandwidth():
    # With a fixed kernel the estimator is a U-statistic: mean exactly 0 under the
    # null. The V-statistic would have mean (1 - E k(X, X'))(1/n + 1/m) ~ 0.26
    # here; the per-draw sd is ~0.15 (measured), so the mean of 3000 draws has sd
    # ~0.0027 and |mean| < 0.015 (5.5 sd) fails with probability ~1e-7.
    rng = np.random.default_rng(1)
    values = [
        maximum_mean_discrepancy(
            rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), bandwidth=1.0
        )
        for _ in range(3000)
    ]
    assert abs(np.mean(values)) < 0.015
    assert min(values) < 0


def test_mmd_near_zero_for_one_distribution_positive_for_shift():
    # n = 200, 2-D: under the null sd 0.0028, |value| never above 0.017 over 3000
    # seeds (P(|value| > 0.02) < 3e-4 per seed); with a shift of 0.5 in each
    # coordinate values are 0.05-0.09.
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        X, Y, Z = (rng.normal(size=(200, 2)) for _ in range(3))
        assert abs(maximum_mean_discrepancy(X, Y)) < 0.02
        assert maximum_mean_discrepancy(X, Z + 0.5) > 0.03


# ------------------------------------------------------------ two-sample AUC
def test_auc_chance_for_one_distribution_and_high_for_separated_ones():
    # Null: out-of-fold AUC of 400 rows has sd ~0.03, so |AUC - 0.5| < 0.1 fails
    # with probability ~1e-3 per seed. Separated means (4 sd apart) are almost
    # perfectly classified (AUC ~0.99).
    for seed in SEEDS[:3]:
        rng = np.random.default_rng(seed)
        X, Y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
        assert abs(two_sample_auc(X, Y, random_state=seed) - 0.5) < 0.1
    rng = np.random.default_rng(10)
    X, Y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + np.array([4.0, 0.0])
    assert two_sample_auc(X, Y) > 0.9


class _RecordingLogisticRegression(LogisticRegression):
    """Records the class counts it is fitted on (cross_val_predict clones it)."""

    fits: ClassVar[list] = []

    def fit(self, X, y, sample_weight=None):
        type(self).fits.append(np.bincount(y.astype(int), minlength=2))
        return super().fit(X, y, sample_weight=sample_weight)


def test_auc_subsamples_the_larger_sample():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(60, 3)), rng.normal(size=(450, 3))
    _RecordingLogisticRegression.fits = []
    auc = two_sample_auc(X, Y, classifier=_RecordingLogisticRegression(), n_splits=5)
    fits = np.array(_RecordingLogisticRegression.fits)
    # 5 folds, each trained on 4/5 of a balanced 60 + 60 set.
    assert len(fits) == 5
    np.testing.assert_array_equal(fits.sum(axis=1), 96)
    np.testing.assert_array_equal(fits, 48)
    # Arguments in either order: the larger one is cut.
    _RecordingLogisticRegression.fits = []
    two_sample_auc(Y, X, classifier=_RecordingLogisticRegression(), n_splits=5)
    np.testing.assert_array_equal(_RecordingLogisticRegression.fits, 48)
    # Chance level is still 0.5 for an unbalanced pair (sd ~0.05 with 120 rows:
    # |AUC - 0.5| < 0.2 fails with probability < 1e-4).
    assert abs(auc - 0.5) < 0.2
    # The distribution of the result is that of a balanced pair: with a shift,
    # every subsample is as separable as the smaller set.
    assert two_sample_auc(X, Y + 4.0, classifier=LogisticRegression()) > 0.95


def test_auc_uses_the_given_classifier():
    # Equal means, different spreads: a linear classifier cannot tell them apart
    # (AUC ~0.5, sd ~0.03), a forest can (AUC ~0.8).
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(200, 2)), 3.0 * rng.normal(size=(200, 2))
    linear = two_sample_auc(X, Y, classifier=LogisticRegression())
    forest = two_sample_auc(X, Y)
    assert abs(linear - 0.5) < 0.15
    assert forest > 0.7
    # The classifier passed in is not fitted in place (it is cloned).
    lr = LogisticRegression()
    two_sample_auc(X, Y, classifier=lr)
    assert not hasattr(lr, "coef_")


def test_auc_reproducible_with_random_state():
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(40, 2)), rng.normal(0.3, size=(90, 2))
    # The default forest is seeded too.
    assert two_sample_auc(X, Y, random_state=3) == two_sample_auc(X, Y, random_state=3)
    # The seed drives the subsample and the folds (a deterministic classifier, so
    # only they can make the results differ).
    lr = LogisticRegression()
    runs = [two_sample_auc(X, Y, classifier=lr, random_state=s) for s in (3, 3, 4, 5)]
    assert runs[0] == runs[1]
    assert len(set(runs)) > 1


# ---------------------------------------------------------- band mean / std
def test_band_mean_and_std_errors_by_hand():
    X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    Y = np.array([[1.0, 1.0], [1.0, 5.0]])
    # Means: X (2, 3), Y (1, 3): differences (1, 0), RMS sqrt(1/2).
    assert band_mean_error(X, Y) == pytest.approx(math.sqrt(0.5), rel=1e-15)
    # Sample stds (ddof = 1): X (2, 2); Y (0, sqrt(8)).
    expected = math.sqrt(((2.0 - 0.0) ** 2 + (2.0 - math.sqrt(8.0)) ** 2) / 2)
    assert band_std_error(X, Y) == pytest.approx(expected, rel=1e-14)
    # Both symmetric; the std error is blind to shifts, the mean error to spread.
    assert band_mean_error(Y, X) == band_mean_error(X, Y)
    assert band_std_error(X + 10.0, Y) == pytest.approx(expected, rel=1e-14)
    assert band_mean_error(X, 3.0 * (X - X.mean(0)) + X.mean(0)) == pytest.approx(
        0.0, abs=1e-15
    )


# -------------------------------------------------------------- memorisation
def memorisation_reference(G, T, H):
    ratios = []
    for g in G:
        d_train = min(math.dist(g, t) for t in T)
        d_test = min(math.dist(g, h) for h in H)
        ratios.append(d_train / d_test if d_test > 0 else math.inf)
    return float(np.median(ratios))


@pytest.mark.parametrize("n_features", [4, 285])
def test_memorisation_ratio_of_copies_is_zero(n_features):
    # Exact copies are at distance 0 from the training set. The GEMM expansion of
    # squared distances leaves a round-off of ~sqrt(eps) ||x|| (~4e-7 for 285
    # bands on [0, 1]) instead of an exact 0 for part of the rows, so the ratio is
    # 0 up to ~1e-6; genuinely new rows give ~1.
    rng = np.random.default_rng(0)
    T, H = rng.uniform(size=(80, n_features)), rng.uniform(size=(80, n_features))
    copies = T[rng.choice(80, 50)]
    assert memorisation_ratio(copies, T, H) == pytest.approx(0.0, abs=1e-5)


def test_memorisation_ratio_counts_copies_of_held_out_rows():
    # Small integers: every distance is exact, so copies of held-out rows are at
    # distance exactly 0 from the held-out set and their ratio is +inf, the very
    # opposite of memorisation. 6 of the 11 generated rows are such copies, so the
    # median over generated rows (the documented definition) is +inf.
    T = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    H = np.array([[5, 5], [20, 20], [-10, 3], [3, -10]], dtype=float)
    fresh = np.array([[1, 1], [9, 1], [2, 8], [11, 9], [6, 6]], dtype=float)
    G = np.r_[fresh, H[[0, 1, 2, 3, 0, 1]]]
    assert memorisation_reference(fresh, T, H) == 0.25  # by hand: 1/4, 1/4, ...
    # Adding rows whose ratio is +inf can never lower the median.
    assert memorisation_ratio(G, T, H) == math.inf


def test_memorisation_ratio_of_fresh_rows():
    # Fresh rows: the ratio matches the brute-force reference, and with training
    # and held-out sets of equal size it is ~1 (by exchangeability the nearer of
    # the two nearest neighbours is equally likely in either set). The log of the
    # median of 200 ratios has sd ~0.05 (measured over 1000 seeds, max 0.17), so
    # |log ratio| < 0.25 (5 sd) fails with probability ~1e-6 per seed.
    for seed in SEEDS[:3]:
        rng = np.random.default_rng(seed)
        T, H, G = (rng.normal(size=(n, 3)) for n in (100, 100, 200))
        got = memorisation_ratio(G, T, H)
        assert got == pytest.approx(memorisation_reference(G, T, H), rel=1e-12)
        assert abs(math.log(got)) < 0.25
    # Rows near the training set (copies plus small noise) score far below 1.
    near = T[rng.choice(100, 200)] + 0.01 * rng.normal(size=(200, 3))
    assert memorisation_ratio(near, T, H) < 0.1


def test_memorisation_ratio_rejects_mismatched_widths():
    rng = np.random.default_rng(0)
    G, T, H = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    with pytest.raises(ValueError, match="features"):
        memorisation_ratio(G, T[:, :2], H)
    with pytest.raises(ValueError, match="features"):
        memorisation_ratio(G, T, H[:, :2])


# ---------------------------------------------------------- generation scorer
@pytest.fixture(scope="module")
def fitted_pipeline_and_test_set():
    """Plain PLoM on a correlated 5-D Gaussian in 'physical' units (mean 5, sd 2)."""
    rng = np.random.default_rng(0)
    idx = np.arange(5)
    C = 0.8 ** np.abs(idx[:, None] - idx[None, :])
    X = 5.0 + 2.0 * rng.standard_normal((360, 5)) @ np.linalg.cholesky(C).T
    X_train, X_test = X[:240], X[240:]
    pipe = skaidm.make_aidm_pipeline(variant="none", random_state=0).fit(X_train)
    return pipe, X_train, X_test


def _energy_by_cdist(A, B):
    n, m = len(A), len(B)
    return (
        2 * cdist(A, B).mean()
        - cdist(A, A).sum() / (n * (n - 1))
        - cdist(B, B).sum() / (m * (m - 1))
    )


def test_generation_scorer_energy_is_minus_the_metric(fitted_pipeline_and_test_set):
    pipe, _, X_test = fitted_pipeline_and_test_set
    scorer = generation_scorer("energy", n_samples=150, random_state=3)
    X_gen = skaidm.sample(pipe, 150, random_state=3)
    score = scorer(pipe, X_test)
    assert score == pytest.approx(-_energy_by_cdist(X_gen, X_test), rel=1e-10)
    # Fixed seed: independent of the pipeline's own generator state.
    skaidm.sample(pipe, 10)
    assert scorer(pipe, X_test) == score
    # Generated rows come out in the units of X: far better than a shifted set.
    assert score > -_energy_by_cdist(X_gen + 2.0, X_test)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("mmd", lambda G, H: mmd_u_reference(G, H)),
        ("band_mean", lambda G, H: np.sqrt(np.mean((G.mean(0) - H.mean(0)) ** 2))),
        (
            "band_std",
            lambda G, H: np.sqrt(np.mean((G.std(0, ddof=1) - H.std(0, ddof=1)) ** 2)),
        ),
    ],
)
def test_generation_scorer_other_metrics(fitted_pipeline_and_test_set, name, reference):
    pipe, _, X_test = fitted_pipeline_and_test_set
    # 41 + 40 rows -> 3240 pooled pairs (even) for MMD: the median heuristic takes
    # the mean of the two middle values; for these data the distances and squared
    # distances conventions agree to ~1e-11, far inside the tolerance.
    X_test = X_test[:40]
    X_gen = skaidm.sample(pipe, 41, random_state=1)
    score = generation_scorer(name, n_samples=41, random_state=1)(pipe, X_test)
    assert score == pytest.approx(-reference(X_gen, X_test), rel=1e-7)


def test_generation_scorer_auc_is_distance_from_chance(fitted_pipeline_and_test_set):
    pipe, _, X_test = fitted_pipeline_and_test_set
    X_gen = skaidm.sample(pipe, 100, random_state=2)
    auc = two_sample_auc(X_gen, X_test, classifier=None)
    score = generation_scorer("auc", n_samples=100, random_state=2)(pipe, X_test)
    assert score == -abs(auc - 0.5)
    assert score <= 0


def test_generation_scorer_callable_metric(fitted_pipeline_and_test_set):
    pipe, _, X_test = fitted_pipeline_and_test_set

    def mean_gap(G, H):
        return float(np.abs(G.mean() - H.mean()))

    X_gen = skaidm.sample(pipe, 80, random_state=4)
    score = generation_scorer(mean_gap, n_samples=80, random_state=4)(pipe, X_test)
    assert score == pytest.approx(-abs(X_gen.mean() - X_test.mean()), rel=1e-12)
    # A callable that returns 0.5-ish is not mistaken for the AUC (no |. - 0.5|).
    score = generation_scorer(lambda G, H: 0.75, n_samples=2)(pipe, X_test)
    assert score == -0.75


def test_generation_scorer_works_for_an_unfitted_clone_after_fit(
    fitted_pipeline_and_test_set,
):
    # What GridSearchCV does: clone, fit, score. Equal to the fitted original.
    pipe, X_train, X_test = fitted_pipeline_and_test_set
    scorer = generation_scorer("energy", n_samples=60, random_state=0)
    refit = clone(pipe).fit(X_train)
    assert scorer(refit, X_test) == pytest.approx(scorer(pipe, X_test), rel=1e-8)


@pytest.mark.parametrize("metric", ["wasserstein", "Energy", "", None])
def test_generation_scorer_rejects_unknown_metric(metric):
    with pytest.raises(ValueError, match="must be a callable or one of"):
        generation_scorer(metric)


@pytest.mark.parametrize("n_samples", [0, 1, -5, 2.5, "100", None])
def test_generation_scorer_rejects_bad_n_samples(n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        generation_scorer("energy", n_samples=n_samples)
