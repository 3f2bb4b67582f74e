"""BoundedTransform and make_aidm_pipeline(bounds=...) (DESIGN section 6)."""

import re

import joblib
import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler
from threadpoolctl import threadpool_limits

import skaidm
from skaidm import BoundedTransform, make_aidm_pipeline

EPS = np.finfo(np.float64).eps

# (low, high) of the three maps, with a non-zero lower bound and a negative upper one.
BOUNDS = [
    (0.0, None),  # log
    (1.0, None),
    (0.0, 1.5),  # logit
    (-0.5, 2.0),
    (None, 1.5),  # -log(high - x)
    (None, -3.0),
]
REFLECTANCE = [(0.0, None), (0.0, 1.5)]
FILL = -0.01  # EMIT's fill value of its bad bands, outside (0, ...)
# EMIT bands unusable through water vapour (data README); the windows select exactly
# the 41 zeros of emit_l2a_good_bands.csv on the 285 EMIT wavelengths.
EMIT_BAD_WINDOWS_NM = [(1327.0, 1432.0), (1774.0, 1960.0)]


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Small matrices: one BLAS thread is fastest and immune to a loaded machine."""
    with threadpool_limits(1):
        yield


def rounds_to_bound(gap, bound, toward):
    """Whether ``bound + gap`` (towards ``toward``) is nearer to ``bound`` than to
    the next float: ``gap`` below half a step (doubling is exact; a halved step
    could underflow at 0)."""
    return 2 * gap < abs(np.nextafter(bound, toward) - bound)


def inverse_reference(T, low, high):
    """The inverse maps written out plainly (the textbook formulas)."""
    if high is None:
        return low + np.exp(T)
    if low is None:
        return high - np.exp(-T)
    return low + (high - low) * expit(T)


def interior(rng, low, high, shape):
    """Points of (low, high) spread over t in [-8, 8] on the transformed side."""
    return inverse_reference(rng.uniform(-8.0, 8.0, size=shape), low, high)


def bound_scale(low, high):
    return max(abs(b) for b in (low, high) if b is not None)


# ---------------------------------------------------------------- the maps
@pytest.mark.parametrize(("low", "high"), BOUNDS)
def test_transform_matches_hand_formulas(rng, low, high):
    X = interior(rng, low, high, (200, 4))
    T = BoundedTransform(low, high).fit(X).transform(X)
    if high is None:
        expected = np.log(X - low)
    elif low is None:
        expected = -np.log(high - X)
    else:
        expected = logit((X - low) / (high - low))
    # scipy's logit forms 1 - p from the rounded ratio p, so near the upper bound it
    # loses digits that log(x - a) - log(b - x) keeps: an absolute error up to about
    # eps / (1 - p) <= eps (e^8 + 1) ~ 7e-13 (measured at most 1.3e-13).
    np.testing.assert_allclose(T, expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize(("low", "high"), BOUNDS)
def test_round_trip_is_exact_to_rounding(rng, low, high):
    X = interior(rng, low, high, (2000, 3))
    bt = BoundedTransform(low, high).fit(X)
    X_back = bt.inverse_transform(bt.transform(X))
    # Subtracting a bound of magnitude b costs up to eps * b in absolute terms, so the
    # error is relative to |x| + b. Measured at most 1.0 eps over seeds 0-4.
    err = np.abs(X_back - X)
    assert np.all(err <= 2 * EPS * (np.abs(X) + bound_scale(low, high)))


@pytest.mark.parametrize(("low", "high"), REFLECTANCE)
def test_round_trip_is_relatively_exact_for_reflectance(rng, low, high):
    # With low = 0 there is no cancellation: the error is relative to x itself, even
    # for x ~ 1e-4 (t = -8). Measured at most 5.0 eps (logit) and 1.0 eps (log).
    X = interior(rng, low, high, (2000, 3))
    bt = BoundedTransform(low, high).fit(X)
    np.testing.assert_allclose(bt.inverse_transform(bt.transform(X)), X, rtol=8 * EPS)


@pytest.mark.parametrize(("low", "high"), BOUNDS)
def test_maps_are_increasing(low, high):
    lo = high - 10.0 if low is None else low
    hi = low + 10.0 if high is None else high
    x = np.linspace(lo, hi, 10_001)[1:-1, None]
    t = BoundedTransform(low, high).fit(x).transform(x).ravel()
    assert np.all(np.diff(t) > 0)
    # Strict on the inverse too, where the grid's steps stay above float spacing.
    t_grid = np.linspace(-20.0, 20.0, 10_001)[:, None]
    x_back = BoundedTransform(low, high).fit(x).inverse_transform(t_grid).ravel()
    assert np.all(np.diff(x_back) > 0)


@pytest.mark.parametrize(("low", "high"), BOUNDS)
def test_inverse_matches_hand_formulas(rng, low, high):
    T = rng.uniform(-20.0, 20.0, size=(300, 2))
    bt = BoundedTransform(low, high).fit(interior(rng, low, high, (5, 2)))
    np.testing.assert_allclose(
        bt.inverse_transform(T), inverse_reference(T, low, high), rtol=4 * EPS
    )


EXTREME_T = np.r_[
    -np.finfo(np.float64).max, -1e300, -1e5, -800, -746, -745, -700, -37, -36, -1,
    0.0, 1, 36, 37, 700, 709, 710, 745, 800, 1e5, 1e300, np.finfo(np.float64).max,
]  # fmt: skip


@pytest.mark.parametrize(("low", "high"), BOUNDS)
def test_inverse_maps_every_finite_real_into_the_interval(low, high):
    """Strictly inside, except where the bound itself is the nearest float.

    The distance of phi^-1(t) to a bound is e^t or e^-t (one-sided) or
    (b - a) expit(+-t) (logit); once it is below half the distance from the bound to
    the next float inside, the nearest float is the bound itself and rounding to it
    is unavoidable. It happens there and only there. One-sided inverses saturate at
    the largest finite float instead of overflowing to infinity.
    """
    fit_data = inverse_reference(np.array([[-1.0], [0.0], [1.0]]), low, high)
    bt = BoundedTransform(low, high).fit(fit_data)
    # No overflow or invalid-value warnings either (underflow to 0 is the point).
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = bt.inverse_transform(EXTREME_T[:, None]).ravel()
    assert np.all(np.isfinite(x))
    if low is not None:
        assert np.all(x >= low)
        # Distance to the lower bound, computed without cancellation.
        if high is None:
            with np.errstate(under="ignore", over="ignore"):
                gap = np.exp(EXTREME_T)
        else:
            gap = (high - low) * expit(EXTREME_T)
        saturated = rounds_to_bound(gap, low, np.inf)
        np.testing.assert_array_equal(x == low, saturated)
        assert saturated.any()  # the extreme values do reach the saturation
        # The reflectance case keeps x > 0 down to t = -745 (exp(-745) is the
        # smallest subnormal), far beyond anything fitted on spectra.
        if (low, high) == (0.0, None):
            assert np.all(x[EXTREME_T >= -745] > 0)
    if high is not None:
        assert np.all(x <= high)
        if low is None:
            with np.errstate(under="ignore", over="ignore"):
                gap = np.exp(-EXTREME_T)
        else:
            gap = (high - low) * expit(-EXTREME_T)
        saturated = rounds_to_bound(gap, high, -np.inf)
        np.testing.assert_array_equal(x == high, saturated)
        assert saturated.any()
        if (low, high) == (0.0, 1.5):
            inside = (x > 0) & (x < 1.5)
            assert inside[np.abs(EXTREME_T) <= 36].all()
    if low is None:
        assert x[0] == -np.finfo(np.float64).max  # saturated, not -inf
    if high is None:
        assert x[-1] == np.finfo(np.float64).max  # saturated, not inf


def test_default_is_the_identity(rng):
    X = rng.normal(size=(30, 4)) * 100
    bt = BoundedTransform().fit(X)
    np.testing.assert_array_equal(bt.transform(X), X)
    np.testing.assert_array_equal(bt.inverse_transform(X), X)
    assert bt.transform(X) is not X


# --------------------------------------------------------- constant columns
@pytest.fixture
def with_fill_columns(rng):
    """50 rows in (0, 1.5) with columns 2 and 7 holding EMIT's fill value."""
    X = rng.uniform(0.01, 1.4, size=(50, 10))
    X[:, [2, 7]] = FILL
    return X


def test_constant_columns_pass_through_bit_exactly(rng, with_fill_columns):
    X = with_fill_columns
    bt = BoundedTransform(0.0, 1.5).fit(X)
    expected_mask = np.zeros(10, dtype=bool)
    expected_mask[[2, 7]] = True
    np.testing.assert_array_equal(bt.constant_features_, expected_mask)
    np.testing.assert_array_equal(bt.constant_values_, [FILL, FILL])
    T = bt.transform(X)
    np.testing.assert_array_equal(T[:, [2, 7]], X[:, [2, 7]])
    variable = ~expected_mask
    np.testing.assert_allclose(
        T[:, variable], logit(X[:, variable] / 1.5), rtol=1e-13, atol=1e-13
    )
    # Whatever the model puts there, the inverse writes the fill value back.
    T_any = rng.normal(scale=5.0, size=(400, 10))  # |t| < 36: no saturation
    X_new = bt.inverse_transform(T_any)
    assert np.array_equal(X_new[:, [2, 7]], np.full((400, 2), FILL))
    assert np.all((X_new[:, variable] > 0) & (X_new[:, variable] < 1.5))
    # A constant column is exempt from the bounds in transform too (it is copied).
    X_other = X.copy()
    X_other[:, 2] = 5.0
    np.testing.assert_array_equal(bt.transform(X_other)[:, 2], 5.0)


def test_constant_column_inside_the_bounds_is_not_transformed(with_fill_columns):
    X = with_fill_columns.copy()
    X[:, 2] = 0.5
    T = BoundedTransform(0.0, 1.5).fit(X).transform(X)
    np.testing.assert_array_equal(T[:, 2], 0.5)


def test_all_constant_is_an_error():
    with pytest.raises(ValueError, match="All features are constant"):
        BoundedTransform(0.0).fit(np.full((5, 3), 0.2))
    with pytest.raises(ValueError, match="1 sample"):
        BoundedTransform(0.0).fit([[0.2, 0.3]])


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("low", "high", "bad_value", "interval"),
    [
        (0.0, None, 0.0, r"\(0\.0, inf\)"),
        (0.0, None, -0.25, r"\(0\.0, inf\)"),
        (0.0, 1.5, 1.5, r"\(0\.0, 1\.5\)"),
        (0.0, 1.5, 2.0, r"\(0\.0, 1\.5\)"),
        (None, 1.5, 1.75, r"\(-inf, 1\.5\)"),
    ],
)
def test_values_outside_the_bounds_are_an_error(rng, low, high, bad_value, interval):
    X = interior(rng, low, high, (20, 4))
    X[3, 2] = bad_value
    X[11, 0] = bad_value
    pattern = (
        rf"2 value\(s\) of X lie outside the open interval {interval}.*"
        rf"the first is X\[3, 2\] = {re.escape(repr(bad_value))}.*"
        r"Widen bounds=\(low, high\) or clip the data"
    )
    with pytest.raises(ValueError, match=pattern):
        BoundedTransform(low, high).fit(X)
    good = interior(rng, low, high, (20, 4))
    bt = BoundedTransform(low, high).fit(good)
    with pytest.raises(ValueError, match=pattern):
        bt.transform(X)


@pytest.mark.parametrize(
    ("low", "high", "match"),
    [
        (1.0, 1.0, r"low=1\.0 must be smaller than high=1\.0"),
        (2.0, 1.0, r"low=2\.0 must be smaller than high=1\.0"),
        (np.nan, None, "low=nan must be a finite real number"),
        (0.0, np.inf, "high=inf must be a finite real number"),
        (True, None, "low=True must be a finite real number"),
        ("0", None, "low='0' must be a finite real number"),
        (-1e308, 1e308, "high - low = inf overflows"),
    ],
)
def test_bad_bounds(low, high, match):
    with pytest.raises(ValueError, match=match):
        BoundedTransform(low, high).fit([[0.5], [0.7]])


def test_nan_and_inf_are_errors():
    bt = BoundedTransform(0.0, 1.5).fit([[0.2, 0.4], [0.3, 0.5]])
    with pytest.raises(ValueError, match="NaN"):
        BoundedTransform(0.0).fit([[0.2, np.nan], [0.3, 0.5]])
    with pytest.raises(ValueError, match="NaN"):
        bt.transform([[0.2, np.nan]])
    with pytest.raises(ValueError, match="NaN"):
        bt.inverse_transform([[0.2, np.nan]])
    with pytest.raises(ValueError, match="infinity"):
        bt.inverse_transform([[np.inf, 0.0]])
    with pytest.raises(ValueError, match=r"X has 3 features.*expecting 2"):
        bt.inverse_transform([[0.0, 0.0, 0.0]])


# ------------------------------------------------------- scikit-learn API
def test_pandas_output_and_feature_names(rng):
    pd = pytest.importorskip("pandas")
    columns = [f"band_{i}" for i in range(4)]
    X = pd.DataFrame(interior(rng, 0.0, 1.5, (30, 4)), columns=columns)
    bt = BoundedTransform(0.0, 1.5).set_output(transform="pandas").fit(X)
    T = bt.transform(X)
    assert isinstance(T, pd.DataFrame)
    assert list(T.columns) == columns
    np.testing.assert_array_equal(bt.get_feature_names_out(), columns)
    np.testing.assert_allclose(T.to_numpy(), logit(X.to_numpy() / 1.5), rtol=1e-12)
    np.testing.assert_allclose(bt.inverse_transform(T), X.to_numpy(), rtol=8 * EPS)


def test_joblib_round_trip(tmp_path, with_fill_columns, rng):
    X = with_fill_columns
    bt = BoundedTransform(0.0, 1.5).fit(X)
    path = tmp_path / "bounds.joblib"
    joblib.dump(bt, path)
    loaded = joblib.load(path)
    T = rng.normal(size=(20, 10))
    np.testing.assert_array_equal(loaded.transform(X), bt.transform(X))
    np.testing.assert_array_equal(loaded.inverse_transform(T), bt.inverse_transform(T))
    np.testing.assert_array_equal(loaded.constant_features_, bt.constant_features_)


# ------------------------------------------------------------- the pipeline
@pytest.mark.parametrize("variant", ["none", "A", "B"])
def test_pipeline_gets_a_first_bounds_step(variant):
    pipe = make_aidm_pipeline(variant=variant, bounds=(0.0, 1.5), whitening=0.9)
    assert pipe.steps[0][0] == "bounds"
    assert pipe.steps[1][0] == "scale"
    step = pipe.named_steps["bounds"]
    assert isinstance(step, BoundedTransform)
    assert (step.low, step.high) == (0.0, 1.5)
    # The grid keys documented in make_aidm_pipeline exist and can be set.
    documented = set(re.findall(r"``(bounds__\w+)``", make_aidm_pipeline.__doc__))
    assert documented == {"bounds__low", "bounds__high"}
    params = pipe.get_params()
    for key in documented:
        assert key in params
    pipe.set_params(bounds__low=-0.1, bounds__high=None)
    assert (step.low, step.high) == (-0.1, None)
    # Without bounds there is no bounds step.
    assert "bounds" not in make_aidm_pipeline(variant=variant).named_steps


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        (0.0, r"bounds=0\.0 must be None or a pair"),
        ("0, 1", r"bounds='0, 1' must be None or a pair"),
        ((0.0,), r"has 1 elements; it must be a pair"),
        ((0.0, 1.0, 2.0), r"has 3 elements"),
        ((1.5, 0.0), r"low=1\.5 must be smaller than high=0\.0"),
        ((np.nan, 1.0), r"low=nan must be a finite real number"),
        ((None, None), r"bounds nothing; pass bounds=None"),
    ],
)
def test_pipeline_validates_bounds(bounds, match):
    with pytest.raises(ValueError, match=match):
        make_aidm_pipeline(bounds=bounds)


@pytest.mark.parametrize("variant", ["none", "A", "B"])
def test_pipeline_samples_decode_through_the_bounds(variant):
    # Log-normal "spectra": positive, with a long right tail that pushes an
    # unbounded Gaussian-like model below zero.
    rng = np.random.default_rng(3)
    X = np.exp(rng.normal(-1.0, 0.8, size=(120, 1)) + rng.normal(0, 0.3, (120, 6)))
    pipe = make_aidm_pipeline(
        variant=variant, bounds=(0.0, None), whitening=0.99, random_state=0
    ).fit(X)
    X_new = skaidm.sample(pipe, 240, random_state=1)
    expected = pipe[-1].sample(240, random_state=1)
    for _, step in reversed(pipe.steps[:-1]):
        expected = step.inverse_transform(expected)
    np.testing.assert_array_equal(X_new, expected)
    assert np.all(X_new > 0)


@pytest.fixture(scope="module")
def usgs():
    """300 USGS spectra (a seeded subset, to keep the fits around a second)."""
    data = skaidm.datasets.load_usgs_minerals()
    rows = np.sort(np.random.default_rng(0).choice(len(data.data), 300, replace=False))
    return data.data[rows], data.wavelengths


def fit_and_sample(X, bounds, variant):
    pipe = make_aidm_pipeline(
        variant=variant, bounds=bounds, whitening=0.9999, random_state=0
    ).fit(X)
    return pipe, skaidm.sample(pipe, 2000, random_state=1)


@pytest.mark.parametrize("variant", ["none", "B"])
def test_usgs_samples_stay_inside_the_bounds(usgs, variant):
    X, _ = usgs
    pipe, X_new = fit_and_sample(X, (0.0, 1.5), variant)
    assert [name for name, _ in pipe.steps] == ["bounds", "scale", "plom"]
    assert X_new.shape == (2000, 285)
    # By construction, not by luck: every band of every row.
    assert np.all((X_new > 0) & (X_new < 1.5))
    # The model is still the data's: per-band means within 0.08 (band sd ~0.27, so
    # the mean of 2000 rows has sd ~0.006; PLoM's smoothing and the logit shift it).
    np.testing.assert_allclose(X_new.mean(axis=0), X.mean(axis=0), atol=0.08)
    # The test has power: without bounds the same model emits negative reflectance
    # (measured: a band <= 0 in 1.7% of the rows with variant "none", 13% with "B").
    _, X_plain = fit_and_sample(X, None, variant)
    assert np.any(X_plain <= 0)


@pytest.mark.parametrize("variant", ["none", "B"])
def test_usgs_with_emit_bad_bands_filled(usgs, variant):
    X, wavelengths = usgs
    bad = np.zeros(len(wavelengths), dtype=bool)
    for lo, hi in EMIT_BAD_WINDOWS_NM:
        bad |= (wavelengths >= lo) & (wavelengths <= hi)
    assert bad.sum() == 41
    X = X.copy()
    X[:, bad] = FILL  # outside (0, 1.5), but constant: exempt
    pipe, X_new = fit_and_sample(X, (0.0, 1.5), variant)
    np.testing.assert_array_equal(pipe.named_steps["bounds"].constant_features_, bad)
    assert np.array_equal(X_new[:, bad], np.full((2000, 41), FILL))
    good = X_new[:, ~bad]
    assert np.all((good > 0) & (good < 1.5))
    assert isinstance(pipe, Pipeline)
    assert isinstance(pipe.named_steps["scale"], RobustScaler)
