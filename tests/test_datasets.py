"""Tests for skaidm.datasets."""

import gzip
from collections import defaultdict
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils import Bunch

from skaidm.datasets import _base, load_usgs_minerals

N_SPECTRA = 860
N_BANDS = 285
SHARED_DATA = Path(__file__).parents[2] / "shared" / "data"
PACKAGED_FILES = [
    "usgs_splib07a_minerals_emit285.csv",
    "usgs_splib07a_minerals_emit285_meta.csv",
    "emit_wavelengths.csv",
]


@pytest.fixture(scope="module")
def minerals():
    return load_usgs_minerals()


def test_bunch_fields(minerals):
    assert isinstance(minerals, Bunch)
    expected = {
        "data",
        "target",
        "groups",
        "feature_names",
        "wavelengths",
        "fwhm",
        "source_id",
        "instrument",
        "DESCR",
    }
    assert set(minerals.keys()) == expected


def test_shapes_and_dtypes(minerals):
    X = minerals.data
    assert X.shape == (N_SPECTRA, N_BANDS)
    assert X.dtype == np.float64
    assert X.flags.c_contiguous
    assert X.flags.writeable
    for name in ("target", "groups", "source_id", "instrument"):
        values = minerals[name]
        assert values.shape == (N_SPECTRA,), name
        assert values.dtype.kind == "U", name
        assert np.all(values != ""), name
    assert minerals.feature_names.shape == (N_BANDS,)
    assert minerals.feature_names.dtype.kind == "U"
    for name in ("wavelengths", "fwhm"):
        assert minerals[name].shape == (N_BANDS,), name
        assert minerals[name].dtype == np.float64, name


def test_reflectance_values(minerals):
    X = minerals.data
    assert np.all(np.isfinite(X))
    # Data README: reflectance range 0.006-1.018.
    assert X.min() > 0
    assert X.max() < 1.1
    assert X.min() == pytest.approx(0.006, abs=5e-4)
    assert X.max() == pytest.approx(1.018, abs=5e-4)


def test_wavelengths(minerals):
    wavelengths = minerals.wavelengths
    assert np.all(np.diff(wavelengths) > 0)
    assert wavelengths[0] >= 381
    assert wavelengths[-1] <= 2493
    assert wavelengths[0] == pytest.approx(381.0056)
    assert wavelengths[-1] == pytest.approx(2492.9239)
    # EMIT FWHM is 8.4-8.8 nm.
    assert np.all((minerals.fwhm > 8.4) & (minerals.fwhm < 8.9))


def test_feature_names_agree_with_wavelengths(minerals):
    names = minerals.feature_names
    assert names[0] == "381.01"
    assert len(set(names)) == N_BANDS
    np.testing.assert_allclose(
        names.astype(np.float64), minerals.wavelengths, rtol=0, atol=0.01
    )


def test_feature_names_as_dataframe_columns(minerals):
    pd = pytest.importorskip("pandas")
    from sklearn.preprocessing import StandardScaler

    frame = pd.DataFrame(minerals.data, columns=minerals.feature_names)
    assert frame.shape == (N_SPECTRA, N_BANDS)
    scaler = StandardScaler().fit(frame)
    np.testing.assert_array_equal(scaler.feature_names_in_, minerals.feature_names)


def test_labels_groups_and_ids(minerals):
    assert np.unique(minerals.target).size == 220
    assert np.unique(minerals.groups).size == 756
    assert np.unique(minerals.source_id).size == N_SPECTRA

    labels_of_group = defaultdict(set)
    for group, label in zip(minerals.groups, minerals.target, strict=True):
        labels_of_group[group].add(label)
    multi = {g: ls for g, ls in labels_of_group.items() if len(ls) > 1}
    assert not multi, f"groups spanning several labels: {multi}"

    # The sample identifier is the source spectrum name minus instrument and
    # measurement codes, e.g. Kaolinite_CM9 <- Kaolinite_CM9_BECKb_AREF.
    for sample, source_id, instrument in zip(
        minerals.groups, minerals.source_id, minerals.instrument, strict=True
    ):
        assert source_id == f"{sample}_{instrument}_AREF"


def test_instrument_counts(minerals):
    # Data README: BECK 430, ASD-FR 384, ASD-NG 45, ASD-HR 1.
    families = np.array([code[:-1] for code in minerals.instrument])
    names, counts = np.unique(families, return_counts=True)
    assert dict(zip(names.tolist(), counts.tolist(), strict=True)) == {
        "BECK": 430,
        "ASDFR": 384,
        "ASDNG": 45,
        "ASDHR": 1,
    }


def test_descr(minerals):
    descr = minerals.DESCR
    assert isinstance(descr, str)
    assert "USGS Spectral Library Version 7" in descr
    assert "10.5066/F7RR1WDJ" in descr
    assert "public domain" in descr
    assert "Apache License 2.0" in descr
    assert "not imply endorsement" in descr
    assert "Split by physical sample" in descr
    assert "GroupKFold" in descr
    assert "Reflectance values were resampled" in descr
    assert "860" in descr
    assert "756" in descr


def test_return_X_y(minerals):
    X, y = load_usgs_minerals(return_X_y=True)
    np.testing.assert_array_equal(X, minerals.data)
    np.testing.assert_array_equal(y, minerals.target)
    assert X.shape == (N_SPECTRA, N_BANDS)
    assert y.shape == (N_SPECTRA,)


def test_returned_arrays_are_independent_copies():
    first = load_usgs_minerals()
    reference = {
        key: value.copy()
        for key, value in first.items()
        if isinstance(value, np.ndarray)
    }
    for value in first.values():
        if not isinstance(value, np.ndarray):
            continue
        if value.dtype.kind == "U":
            value[:] = "modified"
        else:
            value[:] = -1.0
    X, y = load_usgs_minerals(return_X_y=True)
    X[:] = -1.0
    y[:] = "modified"

    second = load_usgs_minerals()
    for key, value in reference.items():
        np.testing.assert_array_equal(second[key], value, err_msg=key)
        assert not np.shares_memory(second[key], first[key]), key


def test_groups_for_group_split(minerals):
    from sklearn.model_selection import GroupKFold

    X, y, groups = minerals.data, minerals.target, minerals.groups
    for train, test in GroupKFold(n_splits=5).split(X, y, groups=groups):
        assert set(groups[train]).isdisjoint(groups[test])


def test_meta_order_mismatch_raises(monkeypatch):
    meta = dict(_base._read_table_csv("usgs_splib07a_minerals_emit285_meta.csv.gz"))
    swapped = meta["source_id"].copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    meta["source_id"] = swapped
    monkeypatch.setattr(_base, "_read_table_csv", lambda name: meta)
    with pytest.raises(ValueError, match="not in the order of the spectra rows"):
        load_usgs_minerals()


def test_header_wavelength_mismatch_raises(monkeypatch):
    wavelengths, fwhm = _base._read_emit_wavelengths()
    shifted = wavelengths + 0.02
    monkeypatch.setattr(_base, "_read_emit_wavelengths", lambda: (shifted, fwhm))
    with pytest.raises(ValueError, match="differ from the EMIT wavelengths"):
        load_usgs_minerals()


def test_read_spectra_csv_generic():
    table = _base._read_spectra_csv("usgs_splib07a_minerals_emit285.csv.gz")
    assert table.values.shape == (N_SPECTRA, N_BANDS)
    assert table.labels.shape == table.ids.shape == (N_SPECTRA,)
    assert table.header.shape == (N_BANDS,)
    # Cached arrays are read-only so that they cannot be corrupted.
    assert not table.values.flags.writeable
    with pytest.raises(ValueError, match="expected leading columns"):
        _base._read_spectra_csv(
            "usgs_splib07a_minerals_emit285.csv.gz", string_columns=("a", "b")
        )


@pytest.mark.parametrize("name", PACKAGED_FILES)
def test_packaged_data_equals_shared_source(name):
    source = SHARED_DATA / name
    if not source.exists():
        pytest.skip(f"shared data not available: {source}")
    packaged = resources.files("skaidm.datasets") / "data" / f"{name}.gz"
    with packaged.open("rb") as f:
        assert gzip.decompress(f.read()) == source.read_bytes()


def test_reference_sets_share_one_stream():
    from skaidm.datasets import make_correlated_gaussian, make_helix

    rng = np.random.default_rng(0)
    helix = make_helix(random_state=rng)
    gaussian = make_correlated_gaussian(random_state=rng)
    # An int seed restarts the stream: the helix is the same, the Gaussian drawn
    # after it differs from one drawn first.
    np.testing.assert_array_equal(make_helix(random_state=0), helix)
    assert not np.allclose(make_correlated_gaussian(random_state=0), gaussian)
    # Geometry: unit radius up to the noise, two turns of unit pitch.
    radius = np.hypot(helix[:, 0], helix[:, 1])
    assert abs(radius.mean() - 1.0) < 0.02
    assert 1.8 < np.ptp(helix[:, 2]) < 2.3
    # Covariance 0.9^|i-j| within sampling error (N = 300: se of a correlation
    # is about 0.03 near 0.9; 5 sigma).
    C = np.corrcoef(make_correlated_gaussian(3000, 8, random_state=1).T)
    idx = np.arange(8)
    np.testing.assert_allclose(C, 0.9 ** np.abs(idx[:, None] - idx[None, :]), atol=0.03)
    with pytest.raises(ValueError, match="rho"):
        make_correlated_gaussian(rho=1.0)


@pytest.mark.parametrize(("group", "n_rows"), [(1, 92), (2, 173)])
def test_emit_references(group, n_rows):
    from skaidm.datasets import load_emit_references

    ref = load_emit_references(group)
    assert ref.data.shape == (n_rows, 285)
    assert np.isfinite(ref.data).all()
    assert ref.data.min() > 0.0
    assert ref.data.max() < 1.2
    assert len(np.unique(ref.target)) == n_rows  # one spectrum per class
    assert ref.target.shape == ref.mineral_label.shape == ref.source.shape
    assert np.all(np.diff(ref.wavelengths) > 0)
    assert "Group-1" in ref.DESCR
    assert "public domain" in ref.DESCR
    X, y = load_emit_references(group, return_X_y=True)
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)
    with pytest.raises(ValueError, match="group=3 must be 1 or 2"):
        load_emit_references(3)


def test_emit_references_link_to_the_mineral_library():
    from skaidm.datasets import load_emit_references

    usgs = load_usgs_minerals()
    ref = load_emit_references(1)
    # 56 Group-1 spectra are also rows of the minerals file (data README): the same
    # source spectrum gives the same 285 values.
    shared = np.intersect1d(
        [s.split(":", 1)[-1] for s in ref.source_id], usgs.source_id
    )
    assert len(shared) == 56
    for sid in shared[:10]:
        i = np.flatnonzero([s.split(":", 1)[-1] == sid for s in ref.source_id])[0]
        j = np.flatnonzero(usgs.source_id == sid)[0]
        np.testing.assert_allclose(ref.data[i], usgs.data[j], rtol=0, atol=1e-6)


def test_emit_bands_and_good_band_mask():
    from skaidm.datasets import load_emit_bands

    bands = load_emit_bands()
    assert bands.wavelengths.shape == bands.fwhm.shape == bands.good_bands.shape
    assert bands.good_bands.dtype == bool
    assert int((~bands.good_bands).sum()) == 41
    bad = bands.wavelengths[~bands.good_bands]
    # The two deep water-vapour windows (data README: 1327-1432 and 1774-1960 nm).
    in_windows = ((bad > 1320) & (bad < 1440)) | ((bad > 1770) & (bad < 1965))
    assert in_windows.all()
    np.testing.assert_array_equal(
        bands.feature_names, load_usgs_minerals().feature_names
    )
    assert np.all((bands.fwhm > 8.0) & (bands.fwhm < 9.0))


def test_generated_spectra_keep_the_bad_band_fill_bit_exactly():
    import skaidm
    from skaidm.datasets import load_emit_bands

    good = load_emit_bands().good_bands
    data = load_usgs_minerals()
    rows = np.random.default_rng(0).choice(len(data.data), 250, replace=False)
    X = data.data[rows].copy()
    X[:, ~good] = -0.01  # EMIT L2A fill value
    weights = np.linspace(1.0, 2.0, 285)  # one weight per input band, fill included
    pipe = skaidm.make_aidm_pipeline(
        weights, alpha=0.7, whitening=0.9999, random_state=0
    ).fit(X)
    X_new = skaidm.sample(pipe, 300, random_state=1)
    assert X_new.shape == (300, 285)
    assert np.array_equal(X_new[:, ~good], np.full((300, (~good).sum()), -0.01))
    # The model was built on the informative bands only.
    plom = pipe[-1]
    np.testing.assert_array_equal(plom.whitening_.constant_features_, ~good)
    assert plom.kernel_attention_.n_features_in_ == 285
