"""make_aidm_pipeline, skaidm.sample and the sampling contract (DESIGN section 1)."""

import re
import warnings

import joblib
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler
from threadpoolctl import threadpool_limits

import skaidm
from skaidm import (
    AttentionPreconditioner,
    PLoMSampler,
    WhiteningPCA,
    make_aidm_pipeline,
)
from skaidm.attention import AttentionCancelledWarning
from skaidm.metrics import energy_distance, generation_scorer


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Small matrices: one BLAS thread is fastest and immune to a loaded machine."""
    with threadpool_limits(1):
        yield


def correlated(n, d, rho, seed, loc=0.0, scale=1.0):
    """n rows of an AR(1)-correlated Gaussian in d dimensions."""
    idx = np.arange(d)
    C = rho ** np.abs(idx[:, None] - idx[None, :])
    rng = np.random.default_rng(seed)
    return loc + scale * rng.standard_normal((n, d)) @ np.linalg.cholesky(C).T


# ------------------------------------------------------------ construction
@pytest.mark.parametrize(
    ("variant", "names"),
    [("none", ["scale", "plom"]), ("A", ["scale", "attention", "plom"]),
     ("B", ["scale", "plom"])],
)  # fmt: skip
def test_step_names(variant, names):
    weights = None if variant == "none" else [0.2, 0.3, 0.5]
    pipe = make_aidm_pipeline(weights, variant=variant, whitening=0.9)
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == names
    assert isinstance(pipe.named_steps["scale"], RobustScaler)
    plom = pipe.named_steps["plom"]
    assert isinstance(plom, PLoMSampler)
    assert isinstance(plom.whitening, WhiteningPCA)
    assert plom.whitening.n_components == 0.9
    if variant == "A":
        assert isinstance(pipe.named_steps["attention"], AttentionPreconditioner)
    if variant == "B":
        assert isinstance(plom.kernel_attention, AttentionPreconditioner)
        np.testing.assert_array_equal(plom.kernel_attention.weights, [0.2, 0.3, 0.5])
    else:
        assert plom.kernel_attention is None


def documented_grid_keys():
    """Every ``step__param`` literal in make_aidm_pipeline's docstring."""
    return sorted(set(re.findall(r"``(\w+__\w+)``", make_aidm_pipeline.__doc__)))


def test_grid_keys_are_documented():
    # The regex is not vacuous: DESIGN's own grid keys are in the docstring.
    assert {
        "plom__kernel_attention__alpha",
        "plom__diffusion_map__epsilon",
        "attention__alpha",
        "plom__whitening__n_components",
    } <= set(documented_grid_keys())


@pytest.mark.parametrize("key", documented_grid_keys())
def test_documented_grid_keys_exist(key):
    # The bounds step exists only when bounds are given.
    kwargs = {"bounds": (0.0, 1.5)} if key.startswith("bounds__") else {}
    params = {
        v: make_aidm_pipeline(variant=v, whitening=0.9, **kwargs).get_params()
        for v in ("none", "A", "B")
    }
    if key.startswith("attention__"):
        variants = ["A"]
    elif key.startswith("plom__kernel_attention__"):
        variants = ["B"]
    else:
        variants = ["none", "A", "B"]
    for variant in variants:
        assert key in params[variant], (key, variant)
        # And a grid search could set it.
        pipe = make_aidm_pipeline(variant=variant, whitening=0.9, **kwargs)
        pipe.set_params(**{key: params[variant][key]})


def test_alpha_and_weights_reach_the_attention():
    w = np.array([0.1, 0.2, 0.7])
    A = make_aidm_pipeline(w, alpha=0.3, variant="A", whitening=0.9)
    B = make_aidm_pipeline(w, alpha=0.3, variant="B")
    assert A.get_params()["attention__alpha"] == 0.3
    assert B.get_params()["plom__kernel_attention__alpha"] == 0.3
    np.testing.assert_array_equal(A.named_steps["attention"].weights, w)


@pytest.mark.parametrize("whitening", [None, 1.0 - 1e-9])
def test_variant_A_with_full_rank_whitening_warns(whitening):
    with pytest.warns(AttentionCancelledWarning, match="plain PLoM"):
        make_aidm_pipeline([0.2, 0.8], variant="A", whitening=whitening)


@pytest.mark.parametrize("whitening", [0.9999, 0.9, 3])
def test_variant_A_with_truncating_whitening_does_not_warn(whitening):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentionCancelledWarning)
        make_aidm_pipeline([0.2, 0.8], variant="A", whitening=whitening)


@pytest.mark.parametrize("variant", ["a", "C", None, "plain"])
def test_bad_variant(variant):
    with pytest.raises(ValueError, match="variant="):
        make_aidm_pipeline(variant=variant)


# ------------------------------------------------------------ skaidm.sample
@pytest.fixture(scope="module")
def physical_data():
    """8 correlated columns in 'physical' units: mean 5, sd 2."""
    return correlated(240, 8, 0.8, seed=1, loc=5.0, scale=2.0)


WEIGHTS_8 = np.array([0.05, 0.1, 0.2, 0.3, 0.15, 0.1, 0.06, 0.04])


@pytest.mark.parametrize("variant", ["none", "A", "B"])
def test_sample_decodes_through_every_step(physical_data, variant):
    X = physical_data
    weights = None if variant == "none" else WEIGHTS_8
    pipe = make_aidm_pipeline(weights, variant=variant, whitening=0.99)
    pipe.set_params(plom__random_state=0).fit(X)
    expected = pipe[-1].sample(300, random_state=5)
    for _, step in reversed(pipe.steps[:-1]):
        expected = step.inverse_transform(expected)
    got = skaidm.sample(pipe, 300, random_state=5)
    np.testing.assert_array_equal(got, expected)
    # Original units: mean 5, sd 2 (the scaled space has median 0, IQR 1). The mean
    # of 300 rows has sd ~0.12 per column; PLoM shrinks variances somewhat (F10).
    np.testing.assert_allclose(got.mean(axis=0), X.mean(axis=0), atol=0.6)
    ratio = got.std(axis=0) / X.std(axis=0)
    assert np.all((ratio > 0.5) & (ratio < 1.2)), ratio


def test_sample_variant_A_is_scaler_of_attention_of_plom(physical_data):
    pipe = make_aidm_pipeline(WEIGHTS_8, alpha=0.8, variant="A", whitening=0.99)
    pipe.set_params(plom__random_state=0).fit(physical_data)
    scale, attention, plom = (
        pipe.named_steps[k] for k in ("scale", "attention", "plom")
    )
    H = plom.sample(250, random_state=11)
    expected = scale.inverse_transform(attention.inverse_transform(H))
    np.testing.assert_array_equal(skaidm.sample(pipe, 250, random_state=11), expected)
    # Independent check of the decoding: x = median + IQR * h / w^(alpha/2), with
    # the weights normalised to mean one.
    q1, med, q3 = np.percentile(physical_data, [25, 50, 75], axis=0)
    w = 8 * WEIGHTS_8 / WEIGHTS_8.sum()
    np.testing.assert_allclose(
        expected, med + (q3 - q1) * H / w**0.4, rtol=1e-10, atol=1e-10
    )


def test_weights_with_plain_plom_warn():
    with pytest.warns(UserWarning, match="ignores the band weights"):
        make_aidm_pipeline(WEIGHTS_8, variant="none")


def test_sample_needs_a_sampler_last(physical_data):
    pipe = Pipeline([("scale", StandardScaler()), ("pca", PCA(3))]).fit(physical_data)
    with pytest.raises(TypeError, match="no sample method"):
        skaidm.sample(pipe, 10)


def test_sample_before_fit():
    with pytest.raises(NotFittedError):
        skaidm.sample(make_aidm_pipeline(variant="B"), 10)
    with pytest.raises(NotFittedError):
        skaidm.sample(PLoMSampler(), 10)
    with pytest.raises(NotFittedError):
        PLoMSampler().sample(10)


def test_sample_warns_when_variant_A_is_cancelled(physical_data):
    with pytest.warns(AttentionCancelledWarning):
        pipe = make_aidm_pipeline(WEIGHTS_8, variant="A", whitening=None)
    pipe.fit(physical_data)
    assert pipe[-1].whitening_.truncation_error_ < 1e-8
    with pytest.warns(AttentionCancelledWarning, match="weights cancel"):
        skaidm.sample(pipe, 20, random_state=0)


def test_cancelled_warning_points_at_the_callers_line(physical_data):
    with pytest.warns(AttentionCancelledWarning) as construction:
        pipe = make_aidm_pipeline(WEIGHTS_8, variant="A", whitening=None)
    assert construction[0].filename == __file__  # make_aidm_pipeline: correct
    pipe.fit(physical_data)
    with pytest.warns(AttentionCancelledWarning) as at_sample:
        skaidm.sample(pipe, 20, random_state=0)
    assert at_sample[0].filename == __file__


def test_sample_skips_passthrough_steps(physical_data):
    pipe = Pipeline(
        [
            ("scale", RobustScaler()),
            ("nothing", "passthrough"),
            ("none", None),
            ("plom", PLoMSampler(random_state=0)),
        ]
    ).fit(physical_data)
    expected = pipe.named_steps["scale"].inverse_transform(
        pipe[-1].sample(30, random_state=1)
    )
    np.testing.assert_array_equal(skaidm.sample(pipe, 30, random_state=1), expected)


def test_sample_does_not_warn_when_variant_A_truncates(physical_data):
    pipe = make_aidm_pipeline(WEIGHTS_8, variant="A", whitening=0.9)
    pipe.fit(physical_data)
    assert pipe[-1].whitening_.truncation_error_ > 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentionCancelledWarning)
        skaidm.sample(pipe, 20, random_state=0)


# ------------------------------------------------------- sampling contract
# Every contract test runs on the bare sampler and on a pipeline (variant B).
KINDS = ["sampler", "pipeline"]


def make_fitted(kind, X, random_state=0, **params):
    if kind == "sampler":
        est = PLoMSampler(random_state=random_state, **params)
    else:
        w = np.linspace(1.0, 2.0, X.shape[1])
        est = make_aidm_pipeline(w, variant="B", random_state=random_state)
        est.set_params(**{f"plom__{k}": v for k, v in params.items()})
    return est.fit(X)


def draw(est, n, random_state=None):
    if isinstance(est, Pipeline):
        return skaidm.sample(est, n, random_state=random_state)
    return est.sample(n, random_state=random_state)


@pytest.mark.parametrize("kind", KINDS)
def test_exact_row_counts(helix, kind):
    est = make_fitted(kind, helix)
    N = len(helix)
    for n in (1, 37, N - 1, N, N + 1, 2 * N + 3):
        X_new = draw(est, n, random_state=n)
        assert X_new.shape == (n, 3)
        assert np.isfinite(X_new).all()
        # No row is repeated: whole realisations plus distinct columns of the last.
        assert len(np.unique(X_new, axis=0)) == n


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True, "10"])
def test_bad_n_samples(helix, n_samples):
    est = make_fitted("sampler", helix)
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(n_samples)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_are_shuffled(helix, kind):
    """Row i of a realisation is tied to training row i: the output must not be.

    Count the rows i whose nearest training row is row i, summed over 3 seeds. In
    realisations in their natural order (the sampler's own sample_whitened) that
    happens for 7-35% of the rows (measured; >= 25 of 600 is a loose floor showing
    the test has power). Shuffled, the expected count is exactly 1 per call (a
    random permutation), so the sum is ~Poisson(3): P(sum >= 12) ~ 5e-5.
    """
    est = make_fitted(kind, helix)
    plom = est if kind == "sampler" else est[-1]
    X_fit = helix if kind == "sampler" else est[:-1].transform(helix)
    N = len(helix)
    ordered_count = shuffled_count = 0
    for seed in (0, 1, 2):
        ordered = plom.whitening_.inverse_transform(
            plom.sample_whitened(1, random_state=seed)[0]
        )
        ordered_count += np.sum(cdist(ordered, X_fit).argmin(axis=1) == np.arange(N))
        X_new = draw(est, N, random_state=seed)
        shuffled_count += np.sum(cdist(X_new, helix).argmin(axis=1) == np.arange(N))
    assert ordered_count >= 25
    assert shuffled_count < 12


@pytest.mark.parametrize("kind", KINDS)
def test_a_partial_realisation_is_a_random_subset(helix, kind):
    """With rows sorted along the helix, a prefix of a realisation sits at one end.

    A random subset of 50 of the 200 columns has nearest training rows spread over
    the whole helix: mean index ~100 (sd ~8, measured 86-96), max ~195; an ordered
    prefix has mean ~27, max ~57. Thresholds 60 and 100 leave > 4 sd of margin.
    """
    X = helix[np.argsort(helix[:, 2])]
    est = make_fitted(kind, X)
    for seed in (0, 1, 2):
        nearest = cdist(draw(est, 50, random_state=seed), X).argmin(axis=1)
        assert nearest.mean() > 60
        assert nearest.max() > 100


@pytest.mark.parametrize("kind", KINDS)
def test_random_state_semantics(helix, kind):
    est = make_fitted(kind, helix)
    # Explicit seed: exactly reproducible, and independent of the internal stream.
    a = draw(est, 150, random_state=7)
    draw(est, 10)
    np.testing.assert_array_equal(draw(est, 150, random_state=7), a)
    assert not np.allclose(draw(est, 150, random_state=8), a)
    # A Generator is accepted and reproducible too.
    np.testing.assert_array_equal(
        draw(est, 40, np.random.default_rng(3)), draw(est, 40, np.random.default_rng(3))
    )
    # random_state=None: successive calls differ...
    b, c = draw(est, 150), draw(est, 150)
    assert not np.allclose(b, c)
    # ...yet the sequence is fixed by the estimator's random_state, at fit.
    twin = make_fitted(kind, helix)
    sequence = [draw(twin, 150) for _ in range(3)]
    refit = est.fit(helix)
    for expected in sequence:
        np.testing.assert_array_equal(draw(refit, 150), expected)
    other = make_fitted(kind, helix, random_state=1)
    assert not np.allclose(draw(other, 150), sequence[0])


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_survives_joblib_persistence(helix, kind, tmp_path):
    est = make_fitted(kind, helix)
    draw(est, 120)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    for n in (120, 250):
        np.testing.assert_array_equal(draw(loaded, n), draw(est, n))
    np.testing.assert_array_equal(
        draw(loaded, 60, random_state=2), draw(est, 60, random_state=2)
    )


def residual_from_pca_subspace(X, whitening):
    """Relative distance of rows from mean_ + span(components_), and constants."""
    var = ~whitening.constant_features_
    D = X[:, var] - whitening.mean_
    V = whitening.components_  # orthonormal rows
    R = D - (D @ V.T) @ V
    return np.linalg.norm(R) / np.linalg.norm(D)


@pytest.fixture(scope="module")
def gaussian_with_constant(correlated_gaussian):
    """300 x 51: the correlated Gaussian of PLOM_SPEC and a constant column."""
    X = correlated_gaussian
    return np.c_[X[:, :25], np.full(len(X), 0.37), X[:, 25:]]


def test_samples_lie_in_the_affine_pca_subspace(gaussian_with_constant):
    # F13: generated rows are mean_ + components_^T (Lambda^1/2 eta).
    X = gaussian_with_constant
    plom = PLoMSampler(whitening=WhiteningPCA(0.95), random_state=0).fit(X)
    r = plom.whitening_.n_components_
    assert r < 50  # a proper subspace, so the test has power
    X_new = plom.sample(450, random_state=0)
    assert residual_from_pca_subspace(X_new, plom.whitening_) < 1e-10
    np.testing.assert_array_equal(X_new[:, 25], 0.37)
    # The data themselves are not in that subspace.
    assert residual_from_pca_subspace(X, plom.whitening_) > 0.05


def test_pipeline_samples_lie_in_the_affine_pca_subspace(gaussian_with_constant):
    X = gaussian_with_constant
    pipe = make_aidm_pipeline(variant="none", whitening=0.95, random_state=0).fit(X)
    X_new = skaidm.sample(pipe, 450, random_state=0)
    np.testing.assert_array_equal(X_new[:, 25], 0.37)
    # Back in the sampler's input space (robust-scaled) the rows are on the plane.
    X_scaled = pipe[:-1].transform(X_new)
    assert residual_from_pca_subspace(X_scaled, pipe[-1].whitening_) < 1e-10


# --------------------------------------------- GridSearchCV on real spectra
@pytest.fixture(scope="module")
def usgs_subset():
    """The spectra of the 25 most frequent minerals: 311 rows, 271 groups.

    Whole physical-sample groups are kept (a label's groups all come along), and
    few classes keep band_importance (mutual information per class) fast.
    """
    data = skaidm.datasets.load_usgs_minerals()
    labels, counts = np.unique(data.target, return_counts=True)
    top = labels[np.argsort(-counts, kind="stable")[:25]]
    keep = np.isin(data.target, top)
    return data.data[keep], data.target[keep], data.groups[keep]


@pytest.fixture(scope="module")
def usgs_search(usgs_subset):
    X, y, groups = usgs_subset
    # Threads: the per-band estimates are small, and loky's process start-up costs
    # more than it saves (measured 4.7 s with threads, 6 s serial, 11 s loky).
    with joblib.parallel_config(backend="threading"):
        weights = skaidm.attention.band_importance(X, y, random_state=0, n_jobs=-1)
    search = GridSearchCV(
        make_aidm_pipeline(weights, variant="B", whitening=0.9999, random_state=0),
        {
            "plom__kernel_attention__alpha": [0.5, 1.0],
            "plom__diffusion_map__epsilon": ["auto", 2.0],
        },
        scoring=generation_scorer("energy", n_samples=200),
        cv=GroupKFold(2),
    )
    return search.fit(X, groups=groups)


def test_grid_search_end_to_end(usgs_subset, usgs_search, tmp_path):
    X, _, groups = usgs_subset
    search = usgs_search
    results = search.cv_results_
    scores = np.c_[results["split0_test_score"], results["split1_test_score"]]
    assert scores.shape == (4, 2)
    assert np.isfinite(scores).all()
    assert np.ptp(results["mean_test_score"]) > 0
    # The best estimator is refitted on every row with the best parameters.
    best = search.best_estimator_
    assert best[-1].eta_.shape[0] == len(X)
    for key, value in search.best_params_.items():
        assert best.get_params()[key] == value
    i = search.best_index_
    assert results["mean_test_score"][i] == results["mean_test_score"].max()

    # One cell by hand: the score is minus the energy distance, in reflectance
    # units, between 200 rows sampled with seed 0 and the held-out fold.
    train, test = next(GroupKFold(2).split(X, groups=groups))
    cell = clone(search.estimator).set_params(**results["params"][0])
    cell.fit(X[train])
    expected = -energy_distance(skaidm.sample(cell, 200, random_state=0), X[test])
    assert results["split0_test_score"][0] == pytest.approx(expected, rel=1e-8)

    # Persistence of the selected model.
    path = tmp_path / "aidm.joblib"
    joblib.dump(best, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(
        skaidm.sample(loaded, 50, random_state=0),
        skaidm.sample(best, 50, random_state=0),
    )


def test_usgs_samples_are_spectra_in_reflectance_units(usgs_subset, usgs_search):
    X = usgs_subset[0]
    X_new = skaidm.sample(usgs_search.best_estimator_, 300, random_state=1)
    assert X_new.shape == (300, 285)
    # Per-band means: the data's band sd is ~0.27, so the mean of 300 rows has sd
    # ~0.016; 0.08 is 5 sd (measured max deviation 0.03).
    np.testing.assert_allclose(X_new.mean(axis=0), X.mean(axis=0), atol=0.08)
    # Reflectance-like: mostly in [0, 1.1] (robust-scaled values would spread
    # over several units around 0).
    inside = np.mean((X_new > -0.05) & (X_new < 1.1))
    assert inside > 0.95
    assert 0.2 < np.median(X_new) < 0.8
    # Spectra are smooth: neighbouring bands correlate as in the data.
    step = np.diff(X_new, axis=1)
    assert np.median(np.abs(step)) < 3 * np.median(np.abs(np.diff(X, axis=1)))
