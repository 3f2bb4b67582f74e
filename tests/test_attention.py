"""Tests for skaidm.attention: band-weight readers, averaging, fallback, estimator.

Every attention file used here is a small fixture written by the test itself; no
attention data ships with skaidm.
"""

import os
import re
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.utils.estimator_checks import parametrize_with_checks

import skaidm.attention as attention_module
from skaidm.attention import (
    AttentionPreconditioner,
    band_importance,
    check_weights,
    read_class_weights,
    read_weights,
    weights_from_attention,
    write_weights,
)

N_BANDS = 285  # EMIT


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _spectra(n_samples=7, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    # Positive entries over several orders of magnitude, as reflectances after scaling.
    return rng.uniform(0.01, 1.0, size=(n_samples, n_features)) * 10.0 ** rng.integers(
        -3, 4, size=(n_samples, n_features)
    )


# ---------------------------------------------------------------------------
# Estimator: scikit-learn contract
# ---------------------------------------------------------------------------


@parametrize_with_checks(
    [AttentionPreconditioner(), AttentionPreconditioner(weights=np.ones(1))]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_set_output_pandas_and_feature_names():
    pd = pytest.importorskip("pandas")
    X = _spectra(n_features=4)
    names = ["b381", "b388", "b395", "b403"]
    df = pd.DataFrame(X, columns=names)
    pre = AttentionPreconditioner(weights=[0.1, 0.2, 0.3, 0.4], alpha=0.7)
    pre.set_output(transform="pandas")
    out = pre.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == names
    assert_array_equal(pre.get_feature_names_out(), names)
    assert_array_equal(pre.feature_names_in_, names)
    assert_allclose(out.to_numpy(), X * pre.scale_, rtol=0)
    assert_allclose(pre.inverse_transform(out), X, rtol=1e-15, atol=0)


def test_get_feature_names_out_without_names():
    pre = AttentionPreconditioner().fit(_spectra(n_features=3))
    assert_array_equal(pre.get_feature_names_out(), ["x0", "x1", "x2"])


def test_joblib_round_trip(tmp_path):
    X = _spectra()
    pre = AttentionPreconditioner(weights=np.arange(1.0, 7.0), alpha=0.5).fit(X)
    joblib.dump(pre, tmp_path / "pre.joblib")
    loaded = joblib.load(tmp_path / "pre.joblib")
    assert_array_equal(loaded.transform(X), pre.transform(X))
    assert_array_equal(loaded.weights_, pre.weights_)


def test_clone_keeps_unfitted_parameters():
    w = np.array([1.0, 2.0, 3.0])
    pre = AttentionPreconditioner(weights=w, alpha=0.7, floor=1e-4)
    cloned = clone(pre)
    assert_array_equal(cloned.weights, w)
    assert cloned.alpha == 0.7
    assert cloned.floor == 1e-4
    assert not hasattr(cloned, "weights_")


# ---------------------------------------------------------------------------
# Estimator: mathematics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.7, 1.0, 2.0])
def test_transform_is_x_times_w_to_half_alpha(alpha):
    rng = np.random.default_rng(1)
    n = 12
    raw = rng.uniform(0.1, 5.0, size=n)  # all well above the floor
    X = _spectra(n_features=n)
    pre = AttentionPreconditioner(weights=raw, alpha=alpha).fit(X)
    w = raw / raw.sum()
    expected_scale = (n * w) ** (alpha / 2)
    # A handful of roundings in each computation.
    assert_allclose(pre.scale_, expected_scale, rtol=1e-14)
    assert_allclose(pre.transform(X), X * expected_scale, rtol=1e-14)
    assert_allclose(pre.weights_, n * w, rtol=1e-14)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_inverse_transform_round_trip(alpha):
    rng = np.random.default_rng(2)
    X = _spectra(n_samples=20, n_features=9)
    pre = AttentionPreconditioner(weights=rng.dirichlet(np.ones(9)), alpha=alpha)
    Xt = pre.fit_transform(X)
    # One rounding in each direction: relative error at most 2 ulp elementwise.
    assert_allclose(pre.inverse_transform(Xt), X, rtol=1e-15, atol=0)
    assert_allclose(pre.transform(pre.inverse_transform(X)), X, rtol=1e-15, atol=0)


@pytest.mark.parametrize("n_features", [3, 49, N_BANDS])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"weights": np.ones(1)},
        {"weights": [7.0]},
        {"alpha": 0.0, "weights": "random"},
        {"alpha": 0.0, "weights": "random", "floor": 0.0},
    ],
)
def test_identity_cases_are_bitwise(n_features, params):
    # 49 * (1 / 49) != 1 in float64: uniform weights must not go through it.
    X = _spectra(n_features=n_features)
    params = dict(params)
    if params.get("weights") == "random":
        weights = np.random.default_rng(3).dirichlet(np.ones(n_features))
        weights[0] = 0.0
        params["weights"] = weights
    pre = AttentionPreconditioner(**params).fit(X)
    assert_array_equal(pre.scale_, np.ones(n_features))
    assert np.array_equal(pre.transform(X), X)
    assert np.array_equal(pre.inverse_transform(X), X)


@pytest.mark.parametrize("n_features", [3, 49, N_BANDS])
def test_uniform_weights_give_exact_ones(n_features):
    X = _spectra(n_features=n_features)
    weights = np.full(n_features, 1.0 / n_features)
    pre = AttentionPreconditioner(weights=weights, alpha=0.7).fit(X)
    assert np.array_equal(pre.weights_, np.ones(n_features))
    assert np.array_equal(pre.transform(X), X)


def test_weights_have_mean_one():
    rng = np.random.default_rng(4)
    X = _spectra(n_features=N_BANDS)
    pre = AttentionPreconditioner(weights=rng.gamma(0.3, size=N_BANDS) * 42.0)
    pre.fit(X)
    # Sum of 285 terms: a few hundred ulp at most.
    assert np.mean(pre.weights_) == pytest.approx(1.0, rel=1e-13)
    assert_allclose(pre.scale_, pre.weights_ ** (pre.alpha / 2), rtol=0)


def test_floor_applies_before_mean_one_normalisation():
    floor = 1e-3
    X = _spectra(n_features=4)
    pre = AttentionPreconditioner(weights=[0.0, 1.0, 1.0, 2.0], floor=floor).fit(X)
    # Normalised weights [0, 1/4, 1/4, 1/2]; the zero becomes the floor and the others
    # give up that mass in proportion, then everything is multiplied by n = 4.
    expected = (
        4
        * np.array([floor, 0.25, 0.25, 0.5])
        * np.array([1, 1 - floor, 1 - floor, 1 - floor])
    )
    assert pre.weights_[0] == pytest.approx(4 * floor, rel=1e-15)
    assert_allclose(pre.weights_, expected, rtol=1e-15)
    assert np.all(pre.scale_ > 0)


def test_length_one_weights_broadcast():
    X = _spectra(n_features=5)
    pre = AttentionPreconditioner(weights=np.array([0.3])).fit(X)
    assert pre.weights_.shape == (5,)
    assert_array_equal(pre.weights_, np.ones(5))


def test_wrong_length_names_both_lengths():
    X = _spectra(n_features=N_BANDS)
    pre = AttentionPreconditioner(weights=np.ones(N_BANDS - 1))
    msg = (
        "weights have 284 entries but the data have 285 features (bands); pass one "
        "weight per band, in band order"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        pre.fit(X)


def test_estimator_does_not_warn_about_renormalisation():
    X = _spectra(n_features=3)
    weights = np.array([1.0, 2.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pre = AttentionPreconditioner(weights=weights).fit(X)
    assert_allclose(pre.weights_, 3 * weights / 7, rtol=1e-15)
    assert_array_equal(weights, [1.0, 2.0, 4.0])  # the parameter is not modified


@pytest.mark.parametrize("alpha", [-0.5, np.nan, np.inf, "1", True, None])
def test_invalid_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite real number >= 0"):
        AttentionPreconditioner(alpha=alpha).fit(_spectra())


@pytest.mark.parametrize("floor", [-1e-6, np.nan, "0", None])
def test_invalid_floor_type(floor):
    with pytest.raises(ValueError, match="floor must be a finite real number >= 0"):
        AttentionPreconditioner(floor=floor).fit(_spectra())


def test_floor_too_large_for_the_number_of_bands():
    with pytest.raises(ValueError, match=r"floor=0\.2 is too large for 6 bands"):
        AttentionPreconditioner(weights=np.ones(6), floor=0.2).fit(_spectra())


def test_zero_scale_is_rejected():
    X = _spectra(n_features=3)
    pre = AttentionPreconditioner(weights=[0.0, 1.0, 1.0], floor=0.0)
    with pytest.raises(ValueError, match="would not be invertible"):
        pre.fit(X)


def test_nan_input_is_rejected():
    X = _spectra()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AttentionPreconditioner().fit(X)


def test_transform_checks_width():
    pre = AttentionPreconditioner().fit(_spectra(n_features=6))
    with pytest.raises(ValueError, match="features"):
        pre.transform(_spectra(n_features=5))
    with pytest.raises(ValueError, match="features"):
        pre.inverse_transform(_spectra(n_features=5))


def test_full_rank_whitening_cancels_preconditioning():
    # The trap of the Notes: with all principal components kept, the whitened data of
    # preconditioned and plain spectra differ by a rotation, so pairwise distances (and
    # any isotropic kernel on them) are identical. Truncation breaks the cancellation.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8))
    pre = AttentionPreconditioner(weights=rng.dirichlet(np.ones(8) * 0.5), alpha=1.0)
    Xa = pre.fit_transform(X)

    def whitened_gram(Z, n_components):
        eta = PCA(n_components=n_components, whiten=True).fit_transform(Z)
        return eta @ eta.T

    # Well-conditioned 60 x 8 problem: agreement to round-off of the two PCAs.
    assert_allclose(whitened_gram(Xa, None), whitened_gram(X, None), atol=1e-9)
    assert not np.allclose(whitened_gram(Xa, 3), whitened_gram(X, 3), atol=1e-3)


# ---------------------------------------------------------------------------
# check_weights
# ---------------------------------------------------------------------------


def test_check_weights_returns_float64_summing_to_one():
    w = check_weights([0, 0, 1])  # integers
    assert w.dtype == np.float64
    assert w.shape == (3,)
    assert w.tolist() == [1e-6, 1e-6, 1 - 2e-6]


@pytest.mark.parametrize("shape", [(1, 4), (4, 1)])
def test_check_weights_accepts_one_row_or_column(shape):
    w = np.full(shape, 0.25)
    assert_array_equal(check_weights(w, 4), np.full(4, 0.25))


def test_check_weights_rejects_other_2d_shapes():
    msg = re.escape(
        "with shape (4,) (one weight per band), got an array of shape (2, 2)"
    )
    with pytest.raises(ValueError, match=msg):
        check_weights(np.full((2, 2), 0.25), n_features=4)
    with pytest.raises(ValueError, match=re.escape("shape (n_features,)")):
        check_weights(np.full((2, 2), 0.25))


def test_check_weights_wrong_length():
    msg = (
        "weights have 284 entries but the data have 285 features (bands); pass one "
        "weight per band, in band order"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_weights(np.full(284, 1 / 284), n_features=285)


def test_check_weights_non_finite():
    with pytest.raises(
        ValueError, match=r"2 non-finite value\(s\).*first is at index 1"
    ):
        check_weights([0.5, np.nan, np.inf, 0.5])


def test_check_weights_negative():
    with pytest.raises(
        ValueError, match=r"2 negative value\(s\); the first is at index 1 \(-0\.5\)"
    ):
        check_weights([1.0, -0.5, 2.0, -1.0])


def test_check_weights_all_zero():
    with pytest.raises(ValueError, match="all zero"):
        check_weights(np.zeros(5))


def test_check_weights_empty_and_non_numeric():
    with pytest.raises(ValueError, match="empty"):
        check_weights([])
    with pytest.raises(ValueError, match="array of real numbers"):
        check_weights(["a", "b"])
    with pytest.raises(TypeError, match="read_weights"):
        check_weights("band_attention_global.csv")


def test_check_weights_renormalises_with_warning():
    with pytest.warns(UserWarning, match=r"summed to 4\.0 and were renormalised"):
        w = check_weights([1.0, 1.0, 2.0])
    assert_allclose(w, [0.25, 0.25, 0.5], rtol=1e-15)


def test_check_weights_within_tolerance_is_silent_and_unchanged():
    w = np.array([0.2, 0.3, 0.5 + 5e-7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = check_weights(w)
    assert_array_equal(out, w)


def test_check_weights_length_one_broadcast_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = check_weights([5.0], n_features=4)
    assert_array_equal(w, np.full(4, 0.25))


def test_check_weights_floor_exact_and_idempotent():
    w = check_weights([0.0, 0.5, 0.5], floor=0.1)
    assert w.tolist() == [0.1, 0.45, 0.45]
    assert_array_equal(check_weights(w, floor=0.1), w)


def test_check_weights_floor_cascade():
    # Taking the floor's mass from the others pushes a second weight below the floor.
    w = check_weights([0.0, 0.01005, 0.98995], floor=0.01)
    assert_allclose(w, [0.01, 0.01, 0.98], rtol=1e-14)
    assert w.min() >= 0.01
    assert w.sum() == pytest.approx(1.0, rel=1e-15)


def test_check_weights_floor_close_to_max_then_renormalise():
    rng = np.random.default_rng(6)
    raw = rng.dirichlet(np.ones(N_BANDS) * 0.05)  # many weights below 1e-6
    floor = 1e-6
    assert np.any(raw < floor)
    w = check_weights(raw, floor=floor)
    assert w.min() >= floor
    literal = np.maximum(raw, floor)
    literal /= literal.sum()
    # The two differ by at most n * floor relative.
    assert_allclose(w, literal, rtol=N_BANDS * floor)


def test_check_weights_does_not_modify_input():
    raw = np.array([0.0, 2.0, 2.0])
    with pytest.warns(UserWarning, match="renormalised"):
        check_weights(raw)
    assert_array_equal(raw, [0.0, 2.0, 2.0])


@pytest.mark.parametrize("floor", [-0.1, np.nan, "1e-6"])
def test_check_weights_invalid_floor(floor):
    with pytest.raises(ValueError, match="floor must be"):
        check_weights([0.5, 0.5], floor=floor)


def test_check_weights_floor_must_be_below_one_over_n():
    with pytest.raises(ValueError, match=r"\[0, 1 / n_features\)"):
        check_weights([0.5, 0.5], floor=0.5)


# ---------------------------------------------------------------------------
# read_weights
# ---------------------------------------------------------------------------

W4 = [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize(
    "text",
    [
        "0.1\n0.2\n0.3\n0.4\n",  # single column
        "weight\n0.1\n0.2\n0.3\n0.4\n",  # single column with header
        "band,weight\n1,0.1\n2,0.2\n3,0.3\n4,0.4\n",  # header + band + weight
        "0,0.1\n1,0.2\n2,0.3\n3,0.4\n",  # band + weight, no header
        "wavelength_nm,weight\n381.0056,0.1\n388.4092,0.2\n395.8158,0.3\n"
        "403.2254,0.4\n",  # wavelength column
        "band,wavelength_nm,weight\n1,381.0,0.1\n2,388.4,0.2\n3,395.8,0.3\n"
        "4,403.2,0.4\n",  # band + wavelength + weight
        "0.1,0.2,0.3,0.4\n",  # one row
        "0.1, 0.2, 0.3, 0.4",  # one row, spaces, no final newline
        "band weight\n1 0.1\n2 0.2\n3 0.3\n4 0.4\n",  # space-separated
        "band\tweight\n1\t0.1\n2\t0.2\n3\t0.3\n4\t0.4\n",  # tab-separated
        "0.1\t0.2\t0.3\t0.4\n",  # one tab-separated row
        '"band","weight"\r\n1,0.1\r\n2,0.2\r\n\r\n3,0.3\r\n4,0.4\r\n',  # quotes, CRLF
        "# attention of model v3\n,weight\n0,0.1\n1,0.2\n2,0.3\n3,0.4\n",  # pandas
        "\ufeffband,weight\n1,0.1\n2,0.2\n3,0.3\n4,0.4\n",  # byte-order mark
    ],
)
def test_read_weights_formats(tmp_path, text):
    path = _write(tmp_path, "band_attention_global.csv", text)
    assert_array_equal(read_weights(path, n_features=4), W4)
    assert_array_equal(read_weights(str(path)), W4)


def test_read_weights_length_one_file_broadcasts(tmp_path):
    path = _write(tmp_path, "w.csv", "1\n")
    assert_array_equal(read_weights(path, n_features=4), np.full(4, 0.25))


def test_read_weights_renormalises_with_warning(tmp_path):
    path = _write(tmp_path, "w.csv", "1\n2\n3\n4\n")
    with pytest.warns(UserWarning, match=r"w\.csv.*summed to 10\.0.*renormalised"):
        w = read_weights(path)
    assert_allclose(w, W4, rtol=1e-15)


def test_read_weights_floor(tmp_path):
    path = _write(tmp_path, "w.csv", "0\n0.5\n0.5\n")
    assert read_weights(path, floor=0.1).tolist() == [0.1, 0.45, 0.45]


def test_read_weights_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_weights(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("\n  \n# only a comment\n", "is empty"),
        ("band,weight\n", "header .* but no data"),
        ("0.1\n0.2\nabc\n0.4\n", r"line 3, column 1: 'abc' is not a number"),
        ("band,weight\n1,0.5\n2,\n", r"line 3, column 2: '' is not a number"),
        ("1,0.1\n2,0.2,7\n3,0.3\n", r"line 2: 3 cells, but line 1 has 2.*ragged"),
        ("band,weight\n1,0.5\n2\n", r"line 3: 1 cells, but line 1 has 2"),
        ("1,2,3,4\n5,6,7,8\n", "2 rows of 4 columns"),
        (
            "band,weight\n1,0.3\n3,0.3\n2,0.4\n",
            r"line 4: column 1 \('band'\).*strictly",
        ),
        ("1,0.3\n1,0.3\n2,0.4\n", r"line 2: column 1 .*not strictly increasing"),
        ("0.5\n-0.25\n0.75\n", r"w\.csv.*1 negative value\(s\).*index 1 \(-0\.25\)"),
        ("0.5\nnan\n0.5\n", r"w\.csv.*1 non-finite value\(s\).*index 1"),
        ("0\n0\n", "all zero"),
    ],
)
def test_read_weights_errors(tmp_path, text, match):
    path = _write(tmp_path, "w.csv", text)
    with pytest.raises(ValueError, match=match) as excinfo:
        read_weights(path)
    assert "w.csv" in str(excinfo.value)


def test_read_weights_wrong_number_of_bands(tmp_path):
    path = _write(tmp_path, "w.csv", "\n".join(["0.25"] * 4) + "\n")
    with pytest.raises(ValueError, match="weights have 4 entries but the data have 5"):
        read_weights(path, n_features=5)


# ---------------------------------------------------------------------------
# write_weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_wavelengths", [False, True])
@pytest.mark.parametrize("floor", [0.0, 1e-6])
def test_write_read_round_trip_is_exact(tmp_path, with_wavelengths, floor):
    rng = np.random.default_rng(7)
    raw = rng.dirichlet(np.ones(N_BANDS) * 0.1)
    raw[[3, 100]] = 0.0
    raw /= raw.sum()
    wavelengths = (
        np.linspace(381.0056, 2492.9238, N_BANDS) if with_wavelengths else None
    )
    path = tmp_path / "band_attention_global.csv"
    written = write_weights(path, raw, wavelengths, floor=floor)
    assert_array_equal(written, check_weights(raw, floor=floor))
    assert_array_equal(read_weights(path, n_features=N_BANDS, floor=floor), written)
    lines = path.read_text().splitlines()
    assert lines[0] == (
        "band,wavelength_nm,weight" if with_wavelengths else "band,weight"
    )
    assert len(lines) == N_BANDS + 1
    assert lines[1].startswith("1,")


def test_write_weights_replaces_and_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "w.csv"
    write_weights(path, [0.25, 0.75])
    before = path.read_text()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_weights(path, [0.5, 0.5])
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.csv"]

    monkeypatch.undo()
    write_weights(path, [0.5, 0.5])
    assert_array_equal(read_weights(path), [0.5, 0.5])


def test_write_weights_invalid_wavelengths(tmp_path):
    with pytest.raises(ValueError, match="one wavelength per band"):
        write_weights(tmp_path / "w.csv", [0.5, 0.5], [400.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        write_weights(tmp_path / "w.csv", [0.5, 0.5], [410.0, 400.0])
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# read_class_weights
# ---------------------------------------------------------------------------

CLASS_LABELS = ["quartz", "calcite", "kaolinite"]
CLASS_ATTENTION = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
CLASS_COUNTS = [10, 30, 60]


def _class_file(tmp_path, header="class,b1,b2,b3", sep=","):
    lines = [] if header is None else [header]
    for label, row in zip(CLASS_LABELS, CLASS_ATTENTION, strict=True):
        lines.append(sep.join([label, *(repr(float(v)) for v in row)]))
    return _write(tmp_path, "band_attention_by_class.csv", "\n".join(lines) + "\n")


def _weighted_mean():
    n = np.array(CLASS_COUNTS, dtype=float)
    return sum(n[c] / n.sum() * CLASS_ATTENTION[c] for c in range(3))


@pytest.mark.parametrize(
    "counts",
    [
        dict(zip(CLASS_LABELS, CLASS_COUNTS, strict=True)),
        {"kaolinite": 60, "quartz": 10, "calcite": 30},  # order does not matter
        CLASS_COUNTS,
        np.array(CLASS_COUNTS),
        [10.0, 30.0, 60.0],  # integral floats are counts
        "csv",
        "csv-no-header",
        "tsv",
    ],
)
def test_read_class_weights_sample_weighted(tmp_path, counts):
    if isinstance(counts, str) and counts == "csv":
        counts = _write(
            tmp_path, "counts.csv", "label,count\nquartz,10\ncalcite,30\nkaolinite,60\n"
        )
    elif isinstance(counts, str) and counts == "csv-no-header":
        counts = str(
            _write(tmp_path, "counts.csv", "kaolinite,60\nquartz,10\ncalcite,30\n")
        )
    elif isinstance(counts, str) and counts == "tsv":
        counts = _write(
            tmp_path, "counts.tsv", "quartz\t10\ncalcite\t30\nkaolinite\t60\n"
        )
    w = read_class_weights(_class_file(tmp_path), counts, n_features=3)
    assert_allclose(w, _weighted_mean(), rtol=1e-15)


def test_read_class_weights_balanced(tmp_path):
    path = _class_file(tmp_path)
    w = read_class_weights(path, balanced=True)
    assert_allclose(w, CLASS_ATTENTION.sum(axis=0) / 3, rtol=1e-15)
    # counts are ignored when balanced
    assert_array_equal(read_class_weights(path, CLASS_COUNTS, balanced=True), w)
    assert not np.allclose(w, _weighted_mean())


@pytest.mark.parametrize(
    ("header", "sep"),
    [
        (None, ","),
        ("class,381.0,388.4,395.8", ","),  # a header of wavelengths
        (",381.0,388.4,395.8", ","),  # pandas.DataFrame.to_csv with an index
        ("Label b1 b2 b3", " "),
        (None, "\t"),
    ],
)
def test_read_class_weights_headers(tmp_path, header, sep):
    path = _class_file(tmp_path, header=header, sep=sep)
    w = read_class_weights(path, CLASS_COUNTS)
    assert_allclose(w, _weighted_mean(), rtol=1e-15)


def test_read_class_weights_numeric_labels(tmp_path):
    path = _write(tmp_path, "c.csv", "0,0.2,0.8\n1,0.6,0.4\n")
    w = read_class_weights(path, {0: 1, 1: 3})
    assert_allclose(w, [0.5, 0.5], rtol=1e-15)


def test_read_class_weights_renormalises_with_warning(tmp_path):
    path = _write(tmp_path, "c.csv", "a,1,1\nb,2,4\n")
    with pytest.warns(UserWarning, match=r"c\.csv.*summed to 4\.0.*renormalised"):
        w = read_class_weights(path, balanced=True)
    assert_allclose(w, [0.375, 0.625], rtol=1e-15)


def test_read_class_weights_needs_counts(tmp_path):
    with pytest.raises(ValueError, match=r"pass counts .*or balanced=True"):
        read_class_weights(_class_file(tmp_path))


def test_read_class_weights_missing_count(tmp_path):
    with pytest.raises(
        ValueError, match=r"no count for 1 class label\(s\).*\['kaolinite'\]"
    ):
        read_class_weights(_class_file(tmp_path), {"quartz": 10, "calcite": 30})


def test_read_class_weights_extra_counts_warn(tmp_path):
    counts = {"quartz": 10, "calcite": 30, "kaolinite": 60, "gypsum": 5}
    with pytest.warns(UserWarning, match=r"\['gypsum'\] are not in the class file"):
        w = read_class_weights(_class_file(tmp_path), counts)
    assert_allclose(w, _weighted_mean(), rtol=1e-15)


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        ([10, -1, 60], r"count of class 'calcite' is -1\.0.*non-negative integers"),
        ([10, 2.5, 60], r"count of class 'calcite' is 2\.5"),
        ([10, np.nan, 60], r"count of class 'calcite' is nan"),
        ({"quartz": 0, "calcite": 0, "kaolinite": 0}, "sum to zero"),
        ([10, 30], r"2 count\(s\) .* for 3 classes"),
        (["a", "b", "c"], "must be numbers"),
    ],
)
def test_read_class_weights_bad_counts(tmp_path, counts, match):
    with pytest.raises(ValueError, match=match):
        read_class_weights(_class_file(tmp_path), counts)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("label,count\nquartz,10\ncalcite,ten\nkaolinite,60\n", r"line 3.*'ten'"),
        ("quartz,10\ncalcite,30,1\n", r"line 2: 3 cells; expected 2"),
        ("quartz,10\nquartz,30\n", r"line 2: duplicate label 'quartz'"),
        ("label,count\n", "header but no data"),
        ("", "is empty"),
    ],
)
def test_read_class_weights_bad_counts_file(tmp_path, text, match):
    counts = _write(tmp_path, "counts.csv", text)
    with pytest.raises(ValueError, match=match) as excinfo:
        read_class_weights(_class_file(tmp_path), counts)
    assert "counts.csv" in str(excinfo.value)


def test_read_class_weights_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing_classes\.csv"):
        read_class_weights(tmp_path / "missing_classes.csv", balanced=True)
    with pytest.raises(FileNotFoundError, match=r"missing_counts\.csv"):
        read_class_weights(_class_file(tmp_path), tmp_path / "missing_counts.csv")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,0.5,0.5\nb,0.5,x\n", r"line 2, column 3: 'x' is not a number"),
        ("a,0.5,0.5\nb,0.5\n", r"line 2: 2 cells, but line 1 has 3"),
        ("a,0.5,0.5\na,0.2,0.8\n", r"line 2: class 'a' already appears on line 1"),
        ("a,0.5,0.5\n,0.2,0.8\n", r"line 2: empty class label"),
        ("a,0.5,0.5\nb,-0.2,1.2\n", r"line 2: class 'b' .*-0\.2 at band index 0"),
        ("a,0.5,0.5\nb,0.2,inf\n", r"line 2: class 'b' .*inf at band index 1"),
        ("a\nb\n", "single column"),
        ("class,b1,b2\n", "header .* but no data"),
    ],
)
def test_read_class_weights_bad_class_file(tmp_path, text, match):
    path = _write(tmp_path, "c.csv", text)
    with pytest.raises(ValueError, match=match) as excinfo:
        read_class_weights(path, balanced=True)
    assert "c.csv" in str(excinfo.value)


def test_read_class_weights_wrong_number_of_bands(tmp_path):
    with pytest.raises(ValueError, match="weights have 3 entries but the data have 4"):
        read_class_weights(_class_file(tmp_path), CLASS_COUNTS, n_features=4)


# ---------------------------------------------------------------------------
# weights_from_attention
# ---------------------------------------------------------------------------


def _attention(n_samples=9, n_features=5, seed=8):
    return np.random.default_rng(seed).dirichlet(np.ones(n_features), size=n_samples)


def test_weights_from_attention_mean():
    A = _attention()
    expected = sum(A) / len(A)
    assert_allclose(weights_from_attention(A), expected, rtol=1e-15)
    # With labels but not balanced: the sample mean, i.e. sum_c (n_c / N) A_c.
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    by_class = sum(np.mean(A[y == c], axis=0) * np.mean(y == c) for c in range(3))
    assert_allclose(weights_from_attention(A, y), expected, rtol=1e-14)
    assert_allclose(weights_from_attention(A, y), by_class, rtol=1e-14)


def test_weights_from_attention_balanced():
    A = _attention()
    y = np.array(["b", "b", "b", "a", "a", "c", "c", "c", "c"])
    expected = (A[:3].mean(axis=0) + A[3:5].mean(axis=0) + A[5:].mean(axis=0)) / 3
    w = weights_from_attention(A, y, balanced=True)
    assert_allclose(w, expected, rtol=1e-14)
    assert not np.allclose(w, A.mean(axis=0))


def test_weights_from_attention_agrees_with_class_file(tmp_path):
    A = _attention()
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    lines = [
        ",".join([f"class{c}", *(repr(float(v)) for v in A[y == c].mean(axis=0))])
        for c in range(3)
    ]
    path = _write(tmp_path, "by_class.csv", "\n".join(lines) + "\n")
    counts = {f"class{c}": int(np.sum(y == c)) for c in range(3)}
    assert_allclose(
        read_class_weights(path, counts), weights_from_attention(A, y), rtol=1e-14
    )
    assert_allclose(
        read_class_weights(path, balanced=True),
        weights_from_attention(A, y, balanced=True),
        rtol=1e-14,
    )


def test_weights_from_attention_renormalises_with_warning():
    A = 3.0 * _attention()
    with pytest.warns(UserWarning, match=r"averaged attention.*renormalised"):
        w = weights_from_attention(A)
    assert_allclose(w, A.mean(axis=0) / 3.0, rtol=1e-14)


def test_weights_from_attention_errors():
    A = _attention()
    with pytest.raises(ValueError, match="balanced=True needs the class labels y"):
        weights_from_attention(A, balanced=True)
    with pytest.raises(ValueError, match="y has 8 labels but attention has 9 rows"):
        weights_from_attention(A, np.zeros(8), balanced=True)
    with pytest.raises(ValueError, match="y has 10 labels but attention has 9 rows"):
        weights_from_attention(A, np.zeros(10))
    with pytest.raises(ValueError, match=r"2-D array .*got shape \(5,\)"):
        weights_from_attention(A[0])
    bad = A.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"1 non-finite value.*row 2, band index 3"):
        weights_from_attention(bad)
    bad[2, 3] = -0.1
    with pytest.raises(ValueError, match=r"1 negative value.*-0\.1 at row 2, band"):
        weights_from_attention(bad)


# ---------------------------------------------------------------------------
# band_importance (data-driven fallback, not attention)
# ---------------------------------------------------------------------------


def test_band_importance_finds_informative_bands():
    rng = np.random.default_rng(9)
    n_samples, n_features, informative = 300, 20, [4, 11, 17]
    y = rng.integers(0, 3, size=n_samples)
    X = rng.normal(size=(n_samples, n_features))
    X[:, informative] += 2.0 * y[:, None]
    w = band_importance(X, y, random_state=0)
    assert w.shape == (n_features,)
    assert np.all(w >= 0)
    assert w.sum() == pytest.approx(1.0, rel=1e-12)
    assert set(np.argsort(w)[-3:]) == set(informative)


def test_band_importance_random_labels_do_not_crash():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(50, 8))
    y = rng.integers(0, 2, size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # may be all zero
        w = band_importance(X, y, random_state=0)
    assert w.shape == (8,)
    assert np.all(w >= 1e-6)
    assert w.sum() == pytest.approx(1.0, rel=1e-12)


def test_band_importance_single_class_is_uniform_with_warning():
    # The k-NN estimator returns round-off (about 4e-16) for every band here.
    X = np.random.default_rng(11).normal(size=(40, 6))
    with pytest.warns(UserWarning, match="mutual information .* is zero"):
        w = band_importance(X, np.zeros(40, dtype=int), random_state=0)
    assert_allclose(w, np.full(6, 1 / 6), rtol=1e-15)


def test_band_importance_all_zero_mutual_information(monkeypatch):
    def zero_mi(X, y, **kwargs):
        return np.zeros(X.shape[1])

    monkeypatch.setattr(attention_module, "mutual_info_classif", zero_mi)
    X = np.random.default_rng(12).normal(size=(30, 5))
    y = np.arange(30) % 2
    with pytest.warns(UserWarning, match="returns uniform weights"):
        w = band_importance(X, y)
    assert_allclose(w, np.full(5, 0.2), rtol=1e-15)


def test_band_importance_is_reproducible_and_feeds_the_estimator():
    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, size=80)
    X = rng.normal(size=(80, 6)) + y[:, None] * np.linspace(0, 2, 6)
    w1 = band_importance(X, y, random_state=0, n_neighbors=5)
    w2 = band_importance(X, y, random_state=0, n_neighbors=5)
    assert_array_equal(w1, w2)
    pre = AttentionPreconditioner(weights=w1, alpha=0.7).fit(X)
    assert pre.weights_.shape == (6,)
