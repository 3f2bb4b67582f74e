"""Tests of skaidm.plotting: every plot renders, on real USGS spectra."""

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skaidm import plotting  # noqa: E402
from skaidm.datasets import load_emit_bands, load_usgs_minerals  # noqa: E402
from skaidm.diffusion import AnisotropicDiffusionMap  # noqa: E402
from skaidm.pipeline import make_aidm_pipeline, sample  # noqa: E402

MIN_PNG_BYTES = 5_000


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def usgs():
    data = load_usgs_minerals()
    rng = np.random.default_rng(0)
    rows = rng.choice(data.data.shape[0], size=200, replace=False)
    return data.data[rows], data.target[rows], data.wavelengths


@pytest.fixture(scope="module")
def good_bands():
    return load_emit_bands().good_bands


@pytest.fixture(scope="module")
def fitted(usgs):
    X, _, _ = usgs
    pipe = make_aidm_pipeline(variant="none", whitening=0.9999, random_state=0)
    pipe.fit(X)
    return pipe, sample(pipe, 100, random_state=0)


def _save(ax, path):
    ax.figure.savefig(path, dpi=60)
    assert path.exists()
    assert path.stat().st_size > MIN_PNG_BYTES


def _bad_band_spans(ax):
    return [p for p in ax.patches if p.get_gid() == plotting._BAD_BAND_GID]


def test_module_imports_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "import skaidm.plotting as p\n"
        "try:\n"
        "    p.plot_sweep([[1.0]], [1.0], [1.0])\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install 'skaidm[plotting]'" in out.stdout


def test_bad_band_windows_emit(usgs, good_bands):
    _, _, wavelengths = usgs
    windows = plotting._bad_band_windows(wavelengths, good_bands)
    assert len(windows) == 2
    (a0, a1), (b0, b1) = windows
    assert 1300 < a0 < a1 < 1450
    assert 1750 < b0 < b1 < 1980


def test_bad_band_windows_at_the_edges():
    wl = np.array([1.0, 2.0, 3.0, 4.0])
    good = np.array([False, True, True, False])
    assert plotting._bad_band_windows(wl, good) == [(0.5, 1.5), (3.5, 4.5)]
    assert plotting._bad_band_windows(wl, np.ones(4, dtype=bool)) == []


def test_plot_band_weights(tmp_path, usgs, good_bands):
    _, _, wavelengths = usgs
    weights = np.linspace(0.5, 1.5, wavelengths.size)
    ax = plotting.plot_band_weights(weights, wavelengths, good_bands, label="w")
    assert ax.get_xlabel() == "wavelength (nm)"
    assert "weight" in ax.get_ylabel()
    assert len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_xdata(), wavelengths)
    assert len(_bad_band_spans(ax)) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["w", "bad bands"]
    assert ax.get_xlim() == (wavelengths.min(), wavelengths.max())
    _save(ax, tmp_path / "weights.png")


def test_plot_band_weights_given_ax_and_no_mask(usgs):
    _, _, wavelengths = usgs
    fig, axes = plt.subplots(1, 2)
    ax = plotting.plot_band_weights(np.ones(wavelengths.size), wavelengths, ax=axes[1])
    assert ax is axes[1]
    assert ax.figure is fig
    assert _bad_band_spans(ax) == []
    assert not axes[0].lines


def test_plot_band_weights_bad_input(usgs, good_bands):
    _, _, wavelengths = usgs
    with pytest.raises(ValueError, match="weights has 10 entries but wavelengths"):
        plotting.plot_band_weights(np.ones(10), wavelengths)
    with pytest.raises(ValueError, match="weights must be 1-D"):
        plotting.plot_band_weights(np.ones((2, wavelengths.size)), wavelengths)
    with pytest.raises(ValueError, match="good_bands has shape"):
        plotting.plot_band_weights(
            np.ones(wavelengths.size), wavelengths, good_bands[:-1]
        )
    with pytest.raises(ValueError, match="boolean mask"):
        plotting.plot_band_weights(
            np.ones(wavelengths.size), wavelengths, good_bands.astype(int)
        )


@pytest.mark.parametrize("which", ["pipeline", "sampler", "map"])
def test_plot_eigenvalues(tmp_path, fitted, which):
    pipe, _ = fitted
    dmap = pipe[-1].diffusion_map_
    estimator = {"pipeline": pipe, "sampler": pipe[-1], "map": dmap}[which]
    ax = plotting.plot_eigenvalues(estimator)
    m = dmap.n_components_
    assert ax.get_yscale() == "log"
    kept, discarded, vline = ax.lines
    np.testing.assert_array_equal(kept.get_xdata(), np.arange(1, m + 1))
    np.testing.assert_allclose(kept.get_ydata(), dmap.eigenvalues_)
    assert np.isfinite(dmap.gap_ratio_)
    assert discarded.get_xdata()[0] == m + 1
    np.testing.assert_allclose(
        discarded.get_ydata()[0], dmap.gap_ratio_ * dmap.eigenvalues_[-1]
    )
    assert list(vline.get_xdata()) == [m, m]
    assert f"m = {m}" in [t.get_text() for t in ax.get_legend().get_texts()]
    title = ax.get_title()
    assert f"{dmap.epsilon_:.4g}" in title
    assert f"{dmap.gap_ratio_:.3g}" in title
    assert "index" in ax.get_xlabel()
    _save(ax, tmp_path / "eigenvalues.png")


def test_plot_eigenvalues_without_gap_and_given_ax():
    X = np.random.default_rng(0).normal(size=(30, 3))
    dmap = AnisotropicDiffusionMap(n_components=3, epsilon=5.0).fit(X)
    dmap.gap_ratio_ = float("nan")  # no lambda_(m+1) known
    _, ax0 = plt.subplots()
    ax = plotting.plot_eigenvalues(dmap, ax=ax0)
    assert ax is ax0
    assert len(ax.lines) == 2  # kept eigenvalues and the m line
    assert "n/a" in ax.get_title()


def test_plot_eigenvalues_unfitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plotting.plot_eigenvalues(AnisotropicDiffusionMap())
    with pytest.raises(TypeError, match="AnisotropicDiffusionMap"):
        plotting.plot_eigenvalues(object())


def test_plot_spectra(tmp_path, usgs, fitted, good_bands):
    X, _, wavelengths = usgs
    _, synthetic = fitted
    ax = plotting.plot_spectra(X, synthetic, wavelengths, good_bands, n_examples=4)
    assert ax.get_xlabel() == "wavelength (nm)"
    assert ax.get_ylabel() == "reflectance"
    assert len(ax.collections) == 2  # two 5-95 % envelopes
    assert len(ax.lines) == 2 + 4  # two medians, four examples
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(X, axis=0))
    assert len(_bad_band_spans(ax)) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "real 5-95 % (n=200)",
        "real median",
        "synthetic 5-95 % (n=100)",
        "synthetic median",
        "synthetic examples",
        "bad bands",
    ]
    _save(ax, tmp_path / "spectra.png")


def test_plot_spectra_given_ax_is_reproducible(usgs, fitted):
    X, _, wavelengths = usgs
    _, synthetic = fitted
    _, (a, b) = plt.subplots(1, 2)
    assert plotting.plot_spectra(X, synthetic, wavelengths, ax=a, random_state=1) is a
    plotting.plot_spectra(X, synthetic, wavelengths, ax=b, random_state=1)
    for la, lb in zip(a.lines, b.lines, strict=True):
        np.testing.assert_array_equal(la.get_ydata(), lb.get_ydata())
    ax = plotting.plot_spectra(X, synthetic, wavelengths, n_examples=0)
    assert len(ax.lines) == 2


def test_plot_spectra_bad_input(usgs):
    X, _, wavelengths = usgs
    with pytest.raises(ValueError, match="synthetic has 284 bands"):
        plotting.plot_spectra(X, X[:, 1:], wavelengths)
    with pytest.raises(ValueError, match="n_examples"):
        plotting.plot_spectra(X, X, wavelengths, n_examples=-1)


def test_plot_diffusion_coordinates(tmp_path, usgs, fitted):
    _, labels, _ = usgs
    pipe, _ = fitted
    G = pipe[-1].diffusion_map_.embedding_
    ax = plotting.plot_diffusion_coordinates(pipe, labels=labels)
    assert len(np.unique(labels)) > 10
    assert ax.get_legend() is None
    assert len(ax.collections) == 1
    np.testing.assert_allclose(ax.collections[0].get_offsets(), G[:, 1:3])
    assert ax.get_xlabel() == "diffusion coordinate 2"
    assert ax.get_ylabel() == "diffusion coordinate 3"
    _save(ax, tmp_path / "coordinates.png")


def test_plot_diffusion_coordinates_few_classes(usgs, fitted):
    pipe, _ = fitted
    labels = np.arange(200) % 3
    _, ax0 = plt.subplots()
    ax = plotting.plot_diffusion_coordinates(pipe[-1], labels=labels, ax=ax0)
    assert ax is ax0
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    ax = plotting.plot_diffusion_coordinates(pipe)
    assert len(ax.collections) == 1
    assert ax.get_legend() is None


def test_plot_diffusion_coordinates_bad_input(fitted):
    pipe, _ = fitted
    with pytest.raises(ValueError, match="one label per row"):
        plotting.plot_diffusion_coordinates(pipe, labels=np.zeros(5))
    X = np.random.default_rng(0).normal(size=(30, 3))
    dmap = AnisotropicDiffusionMap(n_components=2, epsilon=5.0).fit(X)
    with pytest.raises(ValueError, match="at least 3"):
        plotting.plot_diffusion_coordinates(dmap)


def test_plot_sweep(tmp_path):
    scores = np.array([[0.1, 0.2, np.nan], [0.3, 0.05, 0.4]])
    ax = plotting.plot_sweep(scores, [0.5, 1.0], ["auto", 10.0, 1000.0])
    assert len(ax.images) == 1
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.1", "0.2", "0.3", "0.05", "0.4"]  # nan left blank
    assert [t.get_text() for t in ax.get_xticklabels()] == ["auto", "10", "1000"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.5", "1"]
    assert "varepsilon" in ax.get_xlabel()
    assert "alpha" in ax.get_ylabel()
    assert ax.get_title() == "Energy distance over the parameter grid"
    colorbars = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbars) == 1
    assert colorbars[0].get_ylabel() == "energy distance"
    _save(ax, tmp_path / "sweep.png")


def test_plot_sweep_given_ax_and_bad_shape():
    _, ax0 = plt.subplots()
    ax = plotting.plot_sweep(np.ones((1, 2)), [1.0], [1.0, 2.0], ax=ax0, metric="MMD")
    assert ax is ax0
    assert ax.get_title() == "MMD over the parameter grid"
    with pytest.raises(ValueError, match=r"expected \(len\(alphas\), len\(epsilons"):
        plotting.plot_sweep(np.ones((2, 3)), [1.0, 2.0], [1.0, 2.0])


def test_plot_sweep_marks_the_best_cell():
    ax = plotting.plot_sweep(np.ones((2, 3)), [0.5, 1.0], ["knn", 3, 10], best=(1, 2))
    (box,) = [p for p in ax.patches if p.get_label() == "best"]
    assert box.get_xy() == (1.5, 0.5)
    assert (box.get_width(), box.get_height()) == (1.0, 1.0)
    with pytest.raises(ValueError, match="best="):
        plotting.plot_sweep(np.ones((2, 3)), [0.5, 1.0], [1, 2, 3], best=(2, 0))


def _report_axes(fig):
    """The four panels of a report (colorbars excluded), in drawing order."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


@pytest.mark.parametrize("variant", ["B", "A"])
def test_plot_report(tmp_path, usgs, good_bands, variant):
    X, labels, wavelengths = usgs
    weights = np.linspace(1.0, 2.0, wavelengths.size)
    pipe = make_aidm_pipeline(
        weights, alpha=0.7, variant=variant, whitening=0.9999, random_state=0
    ).fit(X)
    X_new = sample(pipe, 150, random_state=0)
    fig = plotting.plot_report(
        pipe, X, X_new, wavelengths, good_bands=good_bands, labels=labels, title="T"
    )
    spectra, band_weights, eigenvalues, coordinates = _report_axes(fig)
    assert spectra.get_ylabel() == "reflectance"
    np.testing.assert_allclose(spectra.lines[0].get_ydata(), np.median(X, axis=0))
    # The fitted weights of the pipeline, normalised to mean one.
    np.testing.assert_allclose(
        band_weights.lines[0].get_ydata(), weights * (weights.size / weights.sum())
    )
    assert "0.7" in band_weights.get_title()
    assert len(_bad_band_spans(band_weights)) == 2
    dmap = pipe[-1].diffusion_map_
    np.testing.assert_allclose(eigenvalues.lines[0].get_ydata(), dmap.eigenvalues_)
    np.testing.assert_allclose(
        coordinates.collections[0].get_offsets(), dmap.embedding_[:, 1:3]
    )
    title = fig.get_suptitle()
    assert title.startswith("T\n")
    for part in (
        "N = 200 training spectra",
        f"r = {pipe[-1].eta_.shape[1]}",
        f"m = {dmap.n_components_}",
        f"= {dmap.epsilon_:.4g} ({dmap.epsilon_rule_})",
        "150 generated",
        f"variant {variant}",
        "= 0.7",
    ):
        assert part in title
    fig.savefig(tmp_path / "report.png", dpi=50)
    assert (tmp_path / "report.png").stat().st_size > MIN_PNG_BYTES


def test_plot_report_plain_plom_without_wavelengths(fitted, usgs):
    X, _, _ = usgs
    pipe, synthetic = fitted  # variant "none"
    fig = plotting.plot_report(pipe, X, synthetic)
    spectra, band_weights, _, _ = _report_axes(fig)
    assert spectra.get_xlabel() == "band number"
    np.testing.assert_array_equal(spectra.lines[0].get_xdata(), np.arange(1, 286))
    assert not band_weights.lines
    assert "no band weights" in band_weights.texts[0].get_text()
    assert "variant none" in fig.get_suptitle()
    assert "alpha" not in fig.get_suptitle()


def test_plot_report_bad_input(fitted, usgs):
    X, _, wavelengths = usgs
    pipe, synthetic = fitted
    with pytest.raises(TypeError, match="PLoMSampler"):
        plotting.plot_report(pipe[:-1], X, synthetic, wavelengths)
    with pytest.raises(ValueError, match="synthetic has 284 bands"):
        plotting.plot_report(pipe, X, synthetic[:, 1:], wavelengths)


def test_diffusion_coordinates_zoom_onto_the_bulk_past_outliers():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=500), rng.normal(size=500)
    x[:3] = [60.0, 80.0, -70.0]  # three isolated rows flatten the bulk
    _, ax = plt.subplots()
    ax.scatter(x, y)
    outside = plotting._zoom_to_bulk(ax, x, y)
    x0, x1 = ax.get_xlim()
    # The view holds the central 98% of the rows, not the outliers ...
    assert x1 - x0 < 20
    assert np.count_nonzero((x >= x0) & (x <= x1)) >= 0.98 * x.size
    # ... and counts exactly the rows it leaves out.
    y0, y1 = ax.get_ylim()
    assert outside == np.count_nonzero((x < x0) | (x > x1) | (y < y0) | (y > y1))
    assert outside >= 3
    assert any("outside the view" in t.get_text() for t in ax.texts)


def test_diffusion_coordinates_keep_the_full_view_without_outliers():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=500), rng.normal(size=500)
    _, ax = plt.subplots()
    ax.scatter(x, y)
    limits = ax.get_xlim(), ax.get_ylim()
    assert plotting._zoom_to_bulk(ax, x, y) == 0
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    assert not ax.texts
