"""ClassConditionalSampler: per-class generators, sampling, fit_resample, imblearn."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags

from skaidm import ClassConditionalSampler, PLoMSampler, make_aidm_pipeline
from skaidm.conditional import _largest_remainder, _over_sampling_targets
from skaidm.datasets import load_usgs_minerals

# Far apart (unit-variance rows): a generated row's nearest centre is its class.
CENTRES = {"a": 0.0, "b": 20.0, "c": 40.0, "d": 60.0}
COUNTS = {"a": 25, "b": 10, "c": 4}
N_FEATURES = 6


def small_generator():
    # Uniform-weight Option B with a truncating whitening: fast, and its knn /
    # reconstruction rules apply to classes of 3 rows without fallback warnings.
    return make_aidm_pipeline(variant="B", whitening=0.99)


def make_blobs(counts=COUNTS, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [rng.normal(CENTRES[c], 1.0, (n, N_FEATURES)) for c, n in counts.items()]
    )
    y = np.concatenate([[c] * n for c, n in counts.items()])
    return X, y


@pytest.fixture(scope="module")
def blobs():
    return make_blobs()


@pytest.fixture(scope="module")
def fitted(blobs):
    return ClassConditionalSampler(small_generator(), random_state=0).fit(*blobs)


def nearest_centre(X):
    names = list(CENTRES)
    centres = np.array([CENTRES[c] for c in names])
    return np.array(names)[np.argmin(np.abs(X.mean(axis=1)[:, None] - centres), 1)]


# --------------------------------------------------------------------- fit
def test_fit_attributes(fitted):
    assert fitted.classes_.tolist() == ["a", "b", "c"]
    assert fitted.class_counts_.tolist() == [25, 10, 4]
    assert fitted.n_features_in_ == N_FEATURES
    assert fitted.skipped_classes_.size == 0
    assert list(fitted.generators_) == ["a", "b", "c"]
    for label, generator in fitted.generators_.items():
        assert isinstance(generator, Pipeline)
        assert generator is not fitted.generator
        plom = generator[-1]
        assert plom.eta_.shape[0] == COUNTS[label]  # fitted on its class only
        # Own whitening per class, of rank <= n_c - 1.
        assert plom.whitening_.n_components_ <= COUNTS[label] - 1
    assert not hasattr(fitted, "transform")


def test_default_generator_is_the_aidm_pipeline(blobs):
    ccs = ClassConditionalSampler(random_state=0).fit(*blobs)
    default = make_aidm_pipeline()
    for generator in ccs.generators_.values():
        assert [name for name, _ in generator.steps] == [
            name for name, _ in default.steps
        ]
        assert isinstance(generator[-1], PLoMSampler)
    assert ccs.generator is None


# ------------------------------------------------------------------ sample
def test_sample_int_rows_come_from_their_class(fitted):
    X_new, y_new = fitted.sample(78, random_state=1)
    assert X_new.shape == (78, N_FEATURES)
    assert X_new.dtype == np.float64
    assert y_new.dtype == fitted.classes_.dtype
    np.testing.assert_array_equal(nearest_centre(X_new), y_new)
    # 78 * (25, 10, 4) / 39 = (50, 20, 8) exactly; grouped in class order.
    assert y_new.tolist() == ["a"] * 50 + ["b"] * 20 + ["c"] * 8


def test_sample_int_split_by_largest_remainder(fitted):
    # 10 * (25, 10, 4) / 39 = (6.41, 2.56, 1.03): floors (6, 2, 1), the one row
    # left goes to the largest remainder, class "b".
    _, y_new = fitted.sample(10, random_state=1)
    labels, counts = np.unique(y_new, return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist(), strict=True)) == {
        "a": 6,
        "b": 3,
        "c": 1,
    }


@pytest.mark.parametrize(
    ("n", "weights", "expected"),
    [
        (10, [25, 10, 4], [6, 3, 1]),
        (2, [1, 1, 1], [1, 1, 0]),  # ties go to the earlier class
        (1, [5, 7], [0, 1]),
        (7, [3], [7]),
        (5, [1, 0, 1], [3, 0, 2]),
    ],
)
def test_largest_remainder(n, weights, expected):
    assert _largest_remainder(n, np.asarray(weights)).tolist() == expected


def test_largest_remainder_sums_exactly(rng):
    for _ in range(50):
        weights = rng.integers(1, 1000, size=rng.integers(1, 12))
        n = int(rng.integers(1, 5000))
        counts = _largest_remainder(n, weights)
        assert counts.sum() == n
        # Every share is its quota rounded down or up.
        quota = n * weights / weights.sum()
        assert np.all((counts == np.floor(quota)) | (counts == np.floor(quota) + 1))


def test_sample_dict(fitted):
    X_new, y_new = fitted.sample({"c": 3, "a": 2, "b": 0}, random_state=2)
    assert X_new.shape == (5, N_FEATURES)
    assert y_new.tolist() == ["a", "a", "c", "c", "c"]
    np.testing.assert_array_equal(nearest_centre(X_new), y_new)
    X_none, y_none = fitted.sample({"a": 0}, random_state=2)
    assert X_none.shape == (0, N_FEATURES)
    assert y_none.shape == (0,)


def test_sample_y(fitted):
    y = np.array(["c", "a", "c", "b", "a", "c", "c"])
    X_new, y_new = fitted.sample(y=y, random_state=3)
    assert X_new.shape == (7, N_FEATURES)
    np.testing.assert_array_equal(y_new, y)
    np.testing.assert_array_equal(nearest_centre(X_new), y)
    # n_samples may repeat len(y).
    X_again, _ = fitted.sample(7, y=y, random_state=3)
    np.testing.assert_array_equal(X_again, X_new)


def test_class_rows_do_not_depend_on_other_classes(fitted):
    # One SeedSequence child per class: the rows of "c" are the same whether or
    # not other classes are drawn in the same call, in whatever order.
    X_c, _ = fitted.sample({"c": 4}, random_state=5)
    X_all, y_all = fitted.sample({"a": 3, "b": 2, "c": 4}, random_state=5)
    np.testing.assert_array_equal(X_all[y_all == "c"], X_c)
    X_y, _ = fitted.sample(y=["c", "a", "c", "c", "c"], random_state=5)
    np.testing.assert_array_equal(X_y[[0, 2, 3, 4]], X_c)


# --------------------------------------------------------- reproducibility
def test_explicit_random_state_is_reproducible(fitted):
    X1, y1 = fitted.sample(20, random_state=7)
    X2, y2 = fitted.sample(20, random_state=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = fitted.sample(20, random_state=8)
    assert not np.allclose(X1, X3)
    # A SeedSequence or a Generator is accepted as well.
    X4, _ = fitted.sample(5, random_state=np.random.SeedSequence(7))
    X5, _ = fitted.sample(5, random_state=np.random.SeedSequence(7))
    np.testing.assert_array_equal(X4, X5)
    assert fitted.sample(5, random_state=np.random.default_rng(0))[0].shape == (
        5,
        N_FEATURES,
    )


def test_random_state_none_sequence(blobs, tmp_path):
    first = ClassConditionalSampler(small_generator(), random_state=4).fit(*blobs)
    second = ClassConditionalSampler(small_generator(), random_state=4).fit(*blobs)
    a1, _ = first.sample(12)
    a2, _ = first.sample(12)
    assert not np.allclose(a1, a2)  # successive calls differ
    np.testing.assert_array_equal(second.sample(12)[0], a1)  # same sequence
    path = tmp_path / "ccs.joblib"
    joblib.dump(second, path)  # saved after one call
    restored = joblib.load(path)
    np.testing.assert_array_equal(restored.sample(12)[0], a2)
    np.testing.assert_array_equal(second.sample(12)[0], a2)
    # Refitting reseeds the sequence.
    first.fit(*blobs)
    np.testing.assert_array_equal(first.sample(12)[0], a1)


# ------------------------------------------------------------ small classes
def test_small_classes_are_skipped_with_a_warning():
    X, y = make_blobs({"a": 25, "b": 10, "c": 2})
    ccs = ClassConditionalSampler(small_generator(), random_state=0)
    with pytest.warns(UserWarning, match=r"min_class_size=3.*'c' \(2\)"):
        ccs.fit(X, y)
    assert ccs.skipped_classes_.tolist() == ["c"]
    assert list(ccs.generators_) == ["a", "b"]
    assert ccs.classes_.tolist() == ["a", "b", "c"]
    _, y_new = ccs.sample(35, random_state=0)
    assert set(y_new.tolist()) == {"a", "b"}
    assert (y_new == "a").sum() == 25  # proportional over the fitted classes
    with pytest.raises(ValueError, match=r"'c' \(skipped at fit"):
        ccs.sample(y=["a", "c"])
    with pytest.raises(ValueError, match=r"'c' \(skipped at fit"):
        ccs.sample({"c": 1})
    with pytest.warns(UserWarning, match="skipped"):
        X_res, y_res = ccs.fit_resample(X, y)
    assert ccs.sampling_strategy_ == {"b": 15}  # "c" is targeted but skipped
    assert (y_res == "c").sum() == 2
    np.testing.assert_array_equal(X_res[: len(X)], X)


def test_min_class_size_raises_the_threshold(blobs):
    with pytest.warns(UserWarning, match=r"min_class_size=5.*'c' \(4\)"):
        ccs = ClassConditionalSampler(small_generator(), min_class_size=5).fit(*blobs)
    assert ccs.skipped_classes_.tolist() == ["c"]


def test_many_skipped_classes_are_counted_not_all_named():
    X, y = make_blobs({"a": 40})
    y = y.astype(object)
    rng = np.random.default_rng(0)
    X = np.vstack([X, rng.normal(size=(25, N_FEATURES))])
    y = np.concatenate([y, [f"rare{i:02d}" for i in range(25)]])
    with pytest.warns(UserWarning, match=r"25 class\(es\).*\(5 more in skipped_"):
        ClassConditionalSampler(small_generator()).fit(X, y)


# ------------------------------------------------------------ fit_resample
IMBALANCED = {"a": 25, "b": 10, "c": 4, "d": 7}
TIED = {"a": 12, "b": 12, "c": 4, "d": 4}  # ties: the first in sorted order wins


@pytest.mark.parametrize("counts", [IMBALANCED, TIED], ids=["imbalanced", "tied"])
@pytest.mark.parametrize(
    "strategy",
    [
        "auto",
        "minority",
        "not minority",
        "not majority",
        "all",
        {"c": 12, "d": 7},
        lambda y: {"c": 20, "b": 15},
    ],
    ids=["auto", "minority", "not-minority", "not-majority", "all", "dict", "callable"],
)
def test_fit_resample_totals_match_imblearn(counts, strategy):
    utils = pytest.importorskip("imblearn.utils")
    X, y = make_blobs(counts)
    ccs = ClassConditionalSampler(
        small_generator(), sampling_strategy=strategy, random_state=0
    )
    X_res, y_res = ccs.fit_resample(X, y)
    theirs = utils.check_sampling_strategy(strategy, y, "over-sampling")
    assert ccs.sampling_strategy_ == {k: int(v) for k, v in theirs.items()}
    expected = {c: n + int(theirs.get(c, 0)) for c, n in counts.items()}
    labels, totals = np.unique(y_res, return_counts=True)
    assert dict(zip(labels.tolist(), totals.tolist(), strict=True)) == expected
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(nearest_centre(X_res[len(X) :]), y_res[len(y) :])


@pytest.mark.parametrize("strategy", [0.5, 0.25, 1.0])
def test_float_strategy_matches_imblearn_for_binary(strategy):
    utils = pytest.importorskip("imblearn.utils")
    # 20 * strategy is an integer, where imbalanced-learn's floor and our ceil agree.
    y = np.array([0] * 20 + [1] * 4)
    ours = _over_sampling_targets(strategy, [0, 1], [20, 4])
    theirs = utils.check_sampling_strategy(strategy, y, "over-sampling")
    assert ours == {k: int(v) for k, v in theirs.items()}


def test_float_strategy_multiclass():
    # Target ceil(0.3 * 25) = 8 rows for every class below it; 0.2 * 25 = 5
    # exactly (no rounding up of 5.000000000000001).
    labels, counts = ["a", "b", "c", "d"], [25, 10, 4, 7]
    assert _over_sampling_targets(0.3, labels, counts) == {"c": 4, "d": 1}
    assert _over_sampling_targets(0.2, labels, counts) == {"c": 1}
    assert _over_sampling_targets(0.1, [0, 1], [30, 2]) == {1: 1}


@pytest.mark.parametrize(
    ("strategy", "expected_totals"),
    [
        ("auto", {"a": 25, "b": 25, "c": 25}),
        ("minority", {"a": 25, "b": 10, "c": 25}),
        ("all", {"a": 25, "b": 25, "c": 25}),
        ({"b": 12, "c": 9}, {"a": 25, "b": 12, "c": 9}),
        (0.5, {"a": 25, "b": 13, "c": 13}),
    ],
)
def test_fit_resample(blobs, strategy, expected_totals):
    X, y = blobs
    ccs = ClassConditionalSampler(
        small_generator(), sampling_strategy=strategy, random_state=0
    )
    X_res, y_res = ccs.fit_resample(X, y)
    # Original rows first, bit for bit, then the synthetic ones.
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)
    labels, counts = np.unique(y_res, return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist(), strict=True)) == expected_totals
    n_new = len(y_res) - len(y)
    assert n_new == sum(ccs.sampling_strategy_.values())
    np.testing.assert_array_equal(nearest_centre(X_res[len(X) :]), y_res[len(y) :])
    # The synthetic rows are sample()'s first draw after fit.
    X_new, y_new = clone(ccs).fit(X, y).sample(ccs.sampling_strategy_)
    np.testing.assert_array_equal(X_res[len(X) :], X_new)
    np.testing.assert_array_equal(y_res[len(y) :], y_new)


def test_fit_resample_is_reproducible_and_keeps_float32_values(blobs):
    X, y = blobs
    X32 = X.astype(np.float32)
    ccs = ClassConditionalSampler(small_generator(), random_state=3)
    X1, y1 = ccs.fit_resample(X32, y)
    X2, y2 = ccs.fit_resample(X32, y)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(X1[: len(X)], X32)  # float32 -> float64 is exact


def test_fit_resample_balanced_data_adds_nothing():
    X, y = make_blobs({"a": 6, "b": 6})
    X_res, y_res = ClassConditionalSampler(small_generator()).fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X)
    np.testing.assert_array_equal(y_res, y)


def test_fit_resample_keeps_pandas_containers(blobs):
    pd = pytest.importorskip("pandas")
    X, y = blobs
    columns = [f"band{j}" for j in range(N_FEATURES)]
    X_df = pd.DataFrame(X, columns=columns, index=np.arange(100, 100 + len(X)))
    y_s = pd.Series(y, name="mineral", index=X_df.index)
    ccs = ClassConditionalSampler(small_generator(), random_state=0)
    X_res, y_res = ccs.fit_resample(X_df, y_s)
    assert isinstance(X_res, pd.DataFrame)
    assert list(X_res.columns) == columns
    assert isinstance(y_res, pd.Series)
    assert y_res.name == "mineral"
    assert len(X_res) == len(y_res) == 3 * 25
    np.testing.assert_array_equal(X_res.to_numpy()[: len(X)], X)
    np.testing.assert_array_equal(ccs.feature_names_in_, columns)


# ------------------------------------------------------------------ errors
def test_errors(fitted, blobs):
    X, y = blobs
    est = ClassConditionalSampler(small_generator())
    with pytest.raises(ValueError, match="requires y"):
        est.fit(X, None)
    for bad in (2, 0, 3.0, True):
        with pytest.raises(ValueError, match="min_class_size"):
            ClassConditionalSampler(min_class_size=bad).fit(X, y)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_nan, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="No class has min_class_size=30"):
        ClassConditionalSampler(min_class_size=30).fit(X, y)
    with pytest.raises(ValueError, match=r"'z' \(not seen at fit\)"):
        fitted.sample(y=["a", "z"])
    with pytest.raises(ValueError, match=r"'z' \(not seen at fit\)"):
        fitted.sample({"z": 2})
    with pytest.raises(ValueError, match="needs n_samples"):
        fitted.sample()
    with pytest.raises(ValueError, match="differs from len"):
        fitted.sample(3, y=["a"])
    for bad in (0, -1, 2.5, "10"):
        with pytest.raises(ValueError, match="n_samples"):
            fitted.sample(bad)
    with pytest.raises(ValueError, match="non-negative int"):
        fitted.sample({"a": -1})


@pytest.mark.parametrize(
    ("strategy", "match"),
    [
        ("majority", "over-sampler"),
        ("most", "must be one of"),
        (1.5, r"\(0, 1\]"),
        (0.0, r"\(0, 1\]"),
        ({"a": 10}, "below the 25 rows"),
        ({"z": 10}, "not in y"),
        ({"b": -3}, "non-negative"),
        (lambda y: ["a"], "must return a dict"),
        ([1, 2], "str, a float, a dict"),
    ],
)
def test_bad_sampling_strategy(blobs, strategy, match):
    with pytest.raises(ValueError, match=match):
        ClassConditionalSampler(small_generator(), sampling_strategy=strategy).fit(
            *blobs
        )


def test_bad_generator(blobs):
    with pytest.raises(TypeError, match="generator must be"):
        ClassConditionalSampler(LogisticRegression()).fit(*blobs)


def test_degenerate_class_is_named(blobs):
    X, y = blobs
    X = X.copy()
    X[y == "c"] = X[y == "c"][0]  # one spectrum repeated: nothing to whiten
    with pytest.raises(ValueError, match=r"generator of class 'c' \(4 rows\)"):
        ClassConditionalSampler(small_generator()).fit(X, y)


def test_unfitted_sample_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ClassConditionalSampler().sample(3)


# ---------------------------------------------------- estimator machinery
def test_params_clone_and_tags(fitted):
    params = fitted.get_params()
    assert params["sampling_strategy"] == "auto"
    assert params["min_class_size"] == 3
    assert "generator__plom__f0" in params  # nested keys of the generator
    copy = clone(fitted)
    assert not hasattr(copy, "generators_")
    assert copy.generator is not fitted.generator
    rebuilt = ClassConditionalSampler(**fitted.get_params(deep=False))
    assert rebuilt.get_params(deep=False) == fitted.get_params(deep=False)
    copy.set_params(generator__plom__f0=2.0, min_class_size=4)
    assert copy.generator.get_params()["plom__f0"] == 2.0
    assert fitted.generator.get_params()["plom__f0"] == 4.0
    tags = get_tags(fitted)
    assert tags.estimator_type == "sampler"
    assert tags.target_tags.required


def test_joblib_round_trip(fitted, tmp_path):
    path = tmp_path / "fitted.joblib"
    joblib.dump(fitted, path)
    restored = joblib.load(path)
    np.testing.assert_array_equal(
        restored.sample(9, random_state=11)[0], fitted.sample(9, random_state=11)[0]
    )
    assert list(restored.generators_) == list(fitted.generators_)


# ---------------------------------------------------------- imbalanced-learn
class RecordingLogisticRegression(LogisticRegression):
    """LogisticRegression that remembers how many rows it was trained on."""

    def fit(self, X, y, sample_weight=None):
        self.n_train_ = len(X)
        self.train_counts_ = dict(zip(*np.unique(y, return_counts=True), strict=True))
        return super().fit(X, y, sample_weight=sample_weight)


def test_imblearn_pipeline(blobs):
    imblearn = pytest.importorskip("imblearn")
    from imblearn.pipeline import Pipeline as ImbPipeline

    X, y = blobs
    ccs = ClassConditionalSampler(small_generator(), random_state=0)
    assert imblearn.base.is_sampler(ccs)
    pipe = ImbPipeline(
        [("augment", ccs), ("clf", RecordingLogisticRegression(max_iter=500))]
    )
    pipe.fit(X, y)
    clf = pipe.named_steps["clf"]
    assert clf.n_train_ == 3 * 25 > len(X)  # trained on the resampled rows
    assert clf.train_counts_ == {"a": 25, "b": 25, "c": 25}
    assert clf.coef_.shape == (3, N_FEATURES)
    # At predict time the sampler is skipped: one prediction per input row.
    y_pred = pipe.predict(X)
    assert y_pred.shape == (len(X),)
    assert set(y_pred.tolist()) <= {"a", "b", "c"}
    # Nested parameters reach the sampler and its generator.
    assert pipe.get_params()["augment__generator__plom__f0"] == 4.0
    pipe.set_params(augment__sampling_strategy="minority").fit(X, y)
    assert pipe.named_steps["clf"].train_counts_ == {"a": 25, "b": 10, "c": 25}


def test_imblearn_pipeline_with_dataframes(blobs):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("imblearn")
    from imblearn.pipeline import make_pipeline

    X, y = blobs
    X_df = pd.DataFrame(X, columns=[f"band{j}" for j in range(N_FEATURES)])
    pipe = make_pipeline(
        ClassConditionalSampler(small_generator(), random_state=0),
        LogisticRegression(max_iter=500),
    )
    with warnings.catch_warnings():
        # e.g. "X has feature names, but LogisticRegression was fitted without"
        warnings.simplefilter("error", UserWarning)
        y_pred = pipe.fit(X_df, pd.Series(y)).predict(X_df)
    assert y_pred.shape == (len(X),)


def test_imblearn_pipeline_in_cross_validation():
    pytest.importorskip("imblearn")
    from imblearn.pipeline import make_pipeline
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = make_blobs({"a": 24, "b": 9, "c": 6})
    pipe = make_pipeline(
        ClassConditionalSampler(small_generator(), random_state=0),
        LogisticRegression(max_iter=500),
    )
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3), error_score="raise")
    assert scores.shape == (3,)


# ---------------------------------------------------------------- real data
def test_usgs_minerals_default_generator():
    data = load_usgs_minerals()
    # A handful of real classes: the two smallest with >= 5 spectra (5 each), a
    # class of 9 and the largest (25), so tiny classes are covered.
    labels, counts = np.unique(data.target, return_counts=True)
    chosen = labels[counts >= 5][np.argsort(counts[counts >= 5], kind="stable")][:2]
    chosen = [*chosen.tolist(), "Talc", "Topaz"]
    mask = np.isin(data.target, chosen)
    X, y = data.data[mask], data.target[mask]
    ccs = ClassConditionalSampler(random_state=0).fit(X, y)
    assert ccs.skipped_classes_.size == 0
    for label, generator in ccs.generators_.items():
        n_c = int((y == label).sum())
        assert generator[-1].whitening_.n_components_ <= n_c - 1
    request = dict.fromkeys(chosen, 4)
    X_new, y_new = ccs.sample(request, random_state=0)
    assert X_new.shape == (16, X.shape[1])
    assert sorted(y_new.tolist()) == sorted(np.repeat(chosen, 4).tolist())
    assert np.isfinite(X_new).all()
    # Reflectance-like: the training spectra span about [0.006, 1.02]; PLoM may
    # overshoot a little (a few per cent of rows dip below zero, DESIGN.md 6).
    assert X_new.min() > -0.3
    assert X_new.max() < 1.5
    # Every generated spectrum is an affine combination of its own class's rows,
    # so it came from that class's generator (exact up to round-off).
    for label in chosen:
        X_c, G = X[y == label], X_new[y_new == label]
        basis = (X_c[1:] - X_c[0]).T
        coef = np.linalg.lstsq(basis, (G - X_c[0]).T, rcond=None)[0]
        residual = np.linalg.norm(basis @ coef - (G - X_c[0]).T)
        assert residual <= 1e-8 * np.linalg.norm(G - X_c[0])


def test_public_name():
    import skaidm

    assert "ClassConditionalSampler" in skaidm.__all__
