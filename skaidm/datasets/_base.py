"""Loaders for the real reflectance spectra shipped with skaidm."""

import csv
import gzip
from functools import cache
from importlib import resources
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

_PACKAGE = "skaidm.datasets"
_DATA_DIR = "data"
_DESCR_DIR = "descr"

# Largest allowed difference between a band centre written in a CSV header
# (2 decimals) and the exact EMIT band centre, in nm.
_HEADER_WAVELENGTH_TOL = 0.01


class _SpectraTable(NamedTuple):
    """Parsed spectra CSV: string columns, value-column header and values."""

    labels: np.ndarray
    ids: np.ndarray
    header: np.ndarray
    values: np.ndarray


def _readonly(array):
    """Mark ``array`` as read-only so that cached arrays cannot be modified."""
    array.flags.writeable = False
    return array


def _read_csv_rows(name, directory=_DATA_DIR):
    """Read a gzip-compressed CSV file shipped in ``skaidm/datasets/<directory>``.

    Parameters
    ----------
    name : str
        File name, e.g. ``"emit_wavelengths.csv.gz"``.

    directory : str, default="data"
        Sub-directory of the ``skaidm.datasets`` package.

    Returns
    -------
    header : list of str
        The first row.

    rows : list of list of str
        The remaining rows; every row has as many fields as the header.
    """
    resource = resources.files(_PACKAGE) / directory / name
    with (
        resource.open("rb") as raw,
        gzip.open(raw, "rt", encoding="utf-8", newline="") as text,
    ):
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{name} is empty.") from None
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{name}, line {line}: expected {len(header)} fields, got {len(row)}."
            )
    return header, rows


@cache
def _read_spectra_csv(name, string_columns=("label", "source_id")):
    """Read a spectra CSV: string columns followed by one value column per band.

    The format is shared by all spectra files of this package: the columns
    ``string_columns`` (by default ``label`` and ``source_id``), then one
    reflectance column per band whose header is the band centre in nm.

    Parameters
    ----------
    name : str
        File name in ``skaidm/datasets/data``, e.g.
        ``"usgs_splib07a_minerals_emit285.csv.gz"``.

    string_columns : tuple of str, default=("label", "source_id")
        Expected names of the leading string columns; the first is returned as
        ``labels``, the second as ``ids``.

    Returns
    -------
    table : _SpectraTable
        Named tuple of read-only arrays ``labels`` (str, (n_samples,)), ``ids``
        (str, (n_samples,)), ``header`` (str, (n_bands,)) and ``values``
        (float64, (n_samples, n_bands), C-contiguous).  The result is cached:
        callers must copy the arrays before handing them out.
    """
    header, rows = _read_csv_rows(name)
    n_str = len(string_columns)
    if tuple(header[:n_str]) != tuple(string_columns):
        raise ValueError(
            f"{name}: expected leading columns {list(string_columns)}, "
            f"got {header[:n_str]}."
        )
    if not rows:
        raise ValueError(f"{name} has a header but no spectra.")
    labels = np.asarray([row[0] for row in rows], dtype=str)
    ids = np.asarray([row[1] for row in rows], dtype=str)
    try:
        values = np.array([row[n_str:] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{name}: non-numeric reflectance value ({exc}).") from exc
    values = np.ascontiguousarray(values)
    return _SpectraTable(
        labels=_readonly(labels),
        ids=_readonly(ids),
        header=_readonly(np.asarray(header[n_str:], dtype=str)),
        values=_readonly(values),
    )


@cache
def _read_table_csv(name):
    """Read a CSV of string columns (e.g. a ``_meta.csv`` file).

    Parameters
    ----------
    name : str
        File name in ``skaidm/datasets/data``.

    Returns
    -------
    columns : dict of str to ndarray of str
        One read-only array of shape (n_rows,) per column, in file order.
        Cached: callers must copy the arrays before handing them out.
    """
    header, rows = _read_csv_rows(name)
    if len(set(header)) != len(header):
        raise ValueError(f"{name}: duplicated column names in {header}.")
    return {
        column: _readonly(np.asarray([row[j] for row in rows], dtype=str))
        for j, column in enumerate(header)
    }


@cache
def _read_emit_wavelengths():
    """Exact EMIT band centres and FWHM in nm (285 distributed bands).

    Returns
    -------
    wavelengths : ndarray of shape (285,), dtype=float64
        Band centres in nm, read-only.

    fwhm : ndarray of shape (285,), dtype=float64
        Full width at half maximum of each band in nm, read-only.
    """
    name = "emit_wavelengths.csv.gz"
    columns = _read_table_csv(name)
    bands = columns["band"].astype(np.int64)
    if not np.array_equal(bands, np.arange(1, bands.size + 1)):
        raise ValueError(f"{name}: bands are not numbered 1..{bands.size}.")
    wavelengths = columns["wavelength_nm"].astype(np.float64)
    fwhm = columns["fwhm_nm"].astype(np.float64)
    if np.any(np.diff(wavelengths) <= 0):
        raise ValueError(f"{name}: band centres are not strictly increasing.")
    return _readonly(wavelengths), _readonly(fwhm)


def _check_header_wavelengths(name, header, wavelengths):
    """Check that a spectra header agrees with the exact band centres."""
    try:
        header_nm = header.astype(np.float64)
    except ValueError as exc:
        raise ValueError(f"{name}: non-numeric band header ({exc}).") from exc
    if header_nm.shape != wavelengths.shape:
        raise ValueError(
            f"{name}: {header_nm.size} band columns, expected {wavelengths.size}."
        )
    max_diff = np.max(np.abs(header_nm - wavelengths))
    if not max_diff <= _HEADER_WAVELENGTH_TOL:
        raise ValueError(
            f"{name}: band centres in the header differ from the EMIT "
            f"wavelengths by up to {max_diff:.4f} nm "
            f"(tolerance {_HEADER_WAVELENGTH_TOL} nm)."
        )


def _check_meta_order(name, spectra, meta):
    """Check that ``meta`` rows describe the ``spectra`` rows, in the same order."""
    for column, expected in (("source_id", spectra.ids), ("label", spectra.labels)):
        found = meta[column]
        if found.shape != expected.shape:
            raise ValueError(
                f"{name}: {found.size} metadata rows for {expected.size} spectra."
            )
        mismatch = np.flatnonzero(found != expected)
        if mismatch.size:
            i = mismatch[0]
            raise ValueError(
                f"{name}: metadata rows are not in the order of the spectra rows: "
                f"row {i} has {column} {found[i]!r} in the metadata but "
                f"{expected[i]!r} in the spectra ({mismatch.size} mismatches)."
            )


def _load_descr(name):
    """Read ``skaidm/datasets/descr/<name>`` as text."""
    resource = resources.files(_PACKAGE) / _DESCR_DIR / name
    return resource.read_text(encoding="utf-8")


def _load_spectra(stem):
    """Spectra, metadata and band table of ``<stem>.csv.gz``, checked together.

    Returns
    -------
    spectra : _SpectraTable
    meta : dict of str to ndarray
    data : ndarray of shape (n_rows, 285)
        A fresh C-contiguous float64 copy of the values.
    wavelengths, fwhm : ndarray of shape (285,)
        Read-only (cached); copy before handing out.
    """
    name = f"{stem}.csv.gz"
    spectra = _read_spectra_csv(name)
    meta = _read_table_csv(f"{stem}_meta.csv.gz")
    wavelengths, fwhm = _read_emit_wavelengths()
    _check_meta_order(name, spectra, meta)
    _check_header_wavelengths(name, spectra.header, wavelengths)
    data = np.array(spectra.values, dtype=np.float64, order="C", copy=True)
    return spectra, meta, data, wavelengths, fwhm


def load_usgs_minerals(*, return_X_y=False):
    """Load the USGS splib07a mineral reflectance spectra on the EMIT band grid.

    860 laboratory reflectance spectra of 220 minerals from the USGS Spectral
    Library Version 7 (Kokaly et al., 2017), resampled to the 285 distributed
    bands of NASA's EMIT imaging spectrometer (381-2493 nm).

    =================   =================================
    Spectra (rows)      860
    Bands (features)    285, 381.0-2492.9 nm
    Classes             220 mineral labels
    Groups              756 USGS sample identifiers
    Values              reflectance, 0-1 scale (0.006-1.018)
    =================   =================================

    Read more in the ``DESCR`` attribute of the returned object.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, returns ``(data, target)`` instead of a Bunch object.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : ndarray of shape (860, 285), dtype=float64
            Reflectance (0-1 scale), one spectrum per row, C-contiguous.
        target : ndarray of shape (860,), dtype=str
            Mineral label of each spectrum, e.g. ``"Kaolinite"``.
        groups : ndarray of shape (860,), dtype=str
            USGS sample identifier of each spectrum (e.g.
            ``"Kaolinite_CM9"``).  Re-measurements of one sample with several
            instruments share a group; pass it as ``groups`` to a
            group-aware splitter such as
            :class:`~sklearn.model_selection.GroupKFold`.
        feature_names : ndarray of shape (285,), dtype=str
            Band centres in nm as written in the CSV header (2 decimals,
            e.g. ``"381.01"``).
        wavelengths : ndarray of shape (285,), dtype=float64
            Exact EMIT band centres in nm.
        fwhm : ndarray of shape (285,), dtype=float64
            EMIT full width at half maximum of each band in nm.
        source_id : ndarray of shape (860,), dtype=str
            Name of the source USGS splib07a spectrum, e.g.
            ``"Kaolinite_CM9_BECKb_AREF"``.
        instrument : ndarray of shape (860,), dtype=str
            USGS instrument code of the source measurement (``"BECKb"``,
            ``"ASDFRb"``, ``"ASDNGb"``, ...).
        DESCR : str
            Full description of the dataset: provenance, licence, processing
            and modelling caveats.

    (data, target) : tuple if ``return_X_y`` is True
        A tuple of two ndarrays: the (860, 285) reflectance array and the
        (860,) array of labels.

    Notes
    -----
    Several rows of one label come from the same sample (instrument
    re-measurements share a group; grain-size splits have separate sample
    identifiers).  Split training and test data by ``groups``, never by row.

    The spectra were measured in the laboratory: they contain no atmosphere
    or sensor noise, and they hold values in the EMIT bands that are unusable
    in real scenes because of water-vapour absorption (about 1327-1432 nm and
    1774-1960 nm).

    The returned arrays are fresh copies: modifying them does not affect later
    calls.

    The data are public domain (U.S. Government work); the EMIT band centres
    and widths come from the emit-sds repositories (Apache-2.0).  See
    ``DESCR`` for the provenance and the modifications made to the data.

    References
    ----------
    .. [1] Kokaly, R. F., Clark, R. N., Swayze, G. A., Livo, K. E.,
       Hoefen, T. M., Pearson, N. C., Wise, R. A., Benzel, W. M.,
       Lowers, H. A., Driscoll, R. L., and Klein, A. J. (2017). USGS Spectral
       Library Version 7 Data. U.S. Geological Survey data release.
       https://doi.org/10.5066/F7RR1WDJ

    .. [2] Kokaly, R. F. et al. (2017). USGS Spectral Library Version 7.
       U.S. Geological Survey Data Series 1035.
       https://doi.org/10.3133/ds1035

    .. [3] Green, R. O. et al. (2020). The Earth Surface Mineral Dust Source
       Investigation: An Earth Science Imaging Spectroscopy Mission. IEEE
       Aerospace Conference. https://doi.org/10.1109/AERO47225.2020.9172731

    Examples
    --------
    >>> from skaidm.datasets import load_usgs_minerals
    >>> X, y = load_usgs_minerals(return_X_y=True)
    >>> X.shape
    (860, 285)
    >>> y.shape
    (860,)
    >>> minerals = load_usgs_minerals()
    >>> minerals.wavelengths.shape
    (285,)
    >>> minerals.feature_names[:3].tolist()
    ['381.01', '388.41', '395.82']
    >>> from sklearn.model_selection import GroupKFold
    >>> cv = GroupKFold(n_splits=5)
    >>> train, test = next(cv.split(X, y, groups=minerals.groups))
    >>> set(minerals.groups[train]).isdisjoint(minerals.groups[test])
    True
    """
    spectra, meta, data, wavelengths, fwhm = _load_spectra(
        "usgs_splib07a_minerals_emit285"
    )
    target = spectra.labels.copy()
    if return_X_y:
        return data, target

    return Bunch(
        data=data,
        target=target,
        groups=meta["sample"].copy(),
        feature_names=spectra.header.copy(),
        wavelengths=wavelengths.copy(),
        fwhm=fwhm.copy(),
        source_id=spectra.ids.copy(),
        instrument=meta["instrument"].copy(),
        DESCR=_load_descr("usgs_minerals.rst"),
    )


_EMIT_REFERENCE_FILES = {
    1: "emit_l2b_group1_emit285",
    2: "emit_l2b_group2_emit285",
}


def load_emit_references(group=1, *, return_X_y=False):
    """Load the reference spectra of EMIT's L2B mineral product (one per class).

    ===================   ======================================
    Group                 1 (1 µm features)   2 (2 µm features)
    Spectra (rows)        92                  173
    Bands (features)      285, 381.0-2492.9 nm
    Values                reflectance, 0-1 scale
    ===================   ======================================

    Read more in the ``DESCR`` attribute of the returned object.

    Parameters
    ----------
    group : {1, 2}, default=1
        Tetracorder group of the EMIT L2B product.
    return_X_y : bool, default=False
        If True, returns ``(data, target)`` instead of a Bunch object.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the attributes ``data`` (reflectance, one
        spectrum per row, float64), ``target`` (Tetracorder class name, e.g.
        ``"fe3+_goethite.medgr.ws222"``), ``mineral_label`` (the USGS mineral
        name, as in :func:`load_usgs_minerals`), ``source`` (which library the
        spectrum comes from), ``source_id``, ``instrument``, ``feature_names``,
        ``wavelengths``, ``fwhm`` and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    load_usgs_minerals : Several spectra per mineral, with physical-sample groups.
    load_emit_bands : The EMIT band table and its good-band mask.

    Examples
    --------
    >>> from skaidm.datasets import load_emit_references
    >>> load_emit_references(1).data.shape
    (92, 285)
    >>> load_emit_references(2).data.shape
    (173, 285)
    """
    if group not in _EMIT_REFERENCE_FILES:
        raise ValueError(f"group={group!r} must be 1 or 2 (the Tetracorder group).")
    spectra, meta, data, wavelengths, fwhm = _load_spectra(_EMIT_REFERENCE_FILES[group])
    target = spectra.labels.copy()
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        mineral_label=meta["mineral_label"].copy(),
        source=meta["source"].copy(),
        source_id=spectra.ids.copy(),
        instrument=meta["instrument"].copy(),
        feature_names=spectra.header.copy(),
        wavelengths=wavelengths.copy(),
        fwhm=fwhm.copy(),
        DESCR=_load_descr("emit_references.rst"),
    )


def load_emit_bands():
    """Load the EMIT band table: centres, widths and the L2A good-band mask.

    Real EMIT surface reflectance is unusable in the deep water-vapour bands
    (about 1327-1432 nm and 1774-1960 nm); the L2A product flags them and fills
    them with -0.01. ``good_bands`` is that mask (True = usable).

    Returns
    -------
    bands : :class:`~sklearn.utils.Bunch`
        ``wavelengths`` (285 band centres, nm), ``fwhm`` (nm), ``good_bands``
        (bool, 244 True), ``feature_names`` (band centres as 2-decimal strings,
        as in the spectra loaders) and ``DESCR``.

    Examples
    --------
    >>> from skaidm.datasets import load_emit_bands
    >>> bands = load_emit_bands()
    >>> int(bands.good_bands.sum()), len(bands.wavelengths)
    (244, 285)
    """
    wavelengths, fwhm = _read_emit_wavelengths()
    table = _read_table_csv("emit_l2a_good_bands.csv.gz")
    mask_wavelengths = table["wavelength_nm"].astype(np.float64)
    if not np.allclose(mask_wavelengths, wavelengths, atol=_HEADER_WAVELENGTH_TOL):
        raise ValueError(
            "emit_l2a_good_bands.csv.gz: its wavelengths do not match the EMIT band "
            "table; the packaged data files are inconsistent."
        )
    good = table["good_band"] == "1"
    return Bunch(
        wavelengths=wavelengths.copy(),
        fwhm=fwhm.copy(),
        good_bands=good,
        feature_names=np.array([f"{w:.2f}" for w in wavelengths]),
        DESCR=(
            "EMIT's 285 distributed bands (centres and FWHM from the emit-sds "
            "EMIT_Wavelengths_20220817 table, detector rows 20-304, nm) and the L2A "
            "bad-band list of a 2025 L2A header (good_band = 0 in the deep water "
            "bands). Apache-2.0, emit-sds repositories (Caltech/JPL)."
        ),
    )
