"""The ``skaidm`` command, run as a user would: in subprocesses, on small inputs."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from skaidm.attention import read_weights, write_weights
from skaidm.datasets import load_usgs_minerals

N_TRAIN = 150
N_SAMPLES = 50
N_BANDS = 285


def run(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "skaidm.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def read_output(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small inputs: 150 USGS spectra with and without labels, weights, bad files."""
    d = tmp_path_factory.mktemp("inputs")
    data = load_usgs_minerals()
    idx = np.random.default_rng(0).choice(len(data.data), N_TRAIN, replace=False)
    X, y = data.data[idx], data.target[idx]
    names = [str(name) for name in data.feature_names]
    spectra = [[repr(float(v)) for v in row] for row in X]
    paths = {
        "labelled": d / "labelled.csv",
        "plain": d / "plain.csv",
        "weights": d / "weights.csv",
        "short_weights": d / "short_weights.csv",
        "ragged": d / "ragged.csv",
        "text_cell": d / "text_cell.csv",
        "not_a_model": d / "not_a_model.joblib",
    }
    write_csv(
        paths["labelled"],
        ["label", *names],
        [[label, *row] for label, row in zip(y, spectra, strict=True)],
    )
    write_csv(paths["plain"], names, spectra)
    write_weights(paths["weights"], np.full(N_BANDS, 1.0 / N_BANDS), data.wavelengths)
    write_weights(paths["short_weights"], np.full(10, 0.1))
    write_csv(paths["ragged"], names, [*spectra[:5], spectra[5][:-1], *spectra[6:]])
    bad = [row[:] for row in spectra]
    bad[3][7] = "n/a"
    write_csv(paths["text_cell"], names, bad)
    paths["not_a_model"].write_text("this is not a pickle\n")
    return {"names": names, **{k: str(v) for k, v in paths.items()}}


def check_spectra(path, names, low=0.0, high=1.5):
    header, X = read_output(path)
    assert header == names
    assert X.shape == (N_SAMPLES, N_BANDS)
    assert np.all(np.isfinite(X))
    assert np.all(low < X)
    assert np.all(high > X)
    return X


def test_help(tmp_path):
    for args in (["--help"], ["generate", "--help"], ["weights", "--help"]):
        result = run(args, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "usage: skaidm" in result.stdout


def test_generate_with_labels_save_and_reload_model(tmp_path, files):
    result = run(
        [
            "generate",
            "--input",
            files["labelled"],
            "--n-samples",
            str(N_SAMPLES),
            "--seed",
            "3",
            "--save-model",
            "model.joblib",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # Default output name; progress lines and the fallback notice on stderr.
    X = check_spectra(tmp_path / "skaidm_synthetic.csv", files["names"])
    assert "NOT Transformer attention" in result.stderr
    for stage in ("loading", "fitting", "sampling", "writing"):
        assert stage in result.stderr
    assert result.stdout == ""

    result = run(
        [
            "generate",
            "--model",
            "model.joblib",
            "--n-samples",
            str(N_SAMPLES),
            "--seed",
            "3",
            "-o",
            "again.csv",
            "--quiet",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "again.csv").read_bytes() == (
        tmp_path / "skaidm_synthetic.csv"
    ).read_bytes()
    np.testing.assert_array_equal(
        check_spectra(tmp_path / "again.csv", files["names"]), X
    )
    assert sorted(os.listdir(tmp_path)) == [
        "again.csv",
        "model.joblib",
        "skaidm_synthetic.csv",
    ]


def test_generate_without_labels_with_weights_file(tmp_path, files):
    result = run(
        [
            "generate",
            "--input",
            files["plain"],
            "--weights",
            files["weights"],
            "--variant",
            "A",
            "--alpha",
            "0.5",
            "--epsilon",
            "knn",
            "--bounds",
            "0",
            "2",
            "--n-samples",
            str(N_SAMPLES),
            "-o",
            "out.csv",
            "--quiet",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    check_spectra(tmp_path / "out.csv", files["names"], high=2.0)


BAD_RUNS = {
    "missing input": ["generate", "--input", "missing.csv"],
    "ragged rows": ["generate", "--input", "{ragged}"],
    "non-numeric cell": ["generate", "--input", "{text_cell}"],
    "weights of the wrong length": [
        "generate",
        "--input",
        "{plain}",
        "--weights",
        "{short_weights}",
    ],
    "missing weights": ["generate", "--input", "{plain}", "--weights", "nope.csv"],
    "data outside the bounds": [
        "generate",
        "--input",
        "{plain}",
        "--weights",
        "{weights}",
        "--bounds",
        "0",
        "0.5",
    ],
    "zero samples": ["generate", "--input", "{plain}", "--n-samples", "0"],
    "negative samples": ["generate", "--n-samples", "-5"],
    "unreadable model": ["generate", "--model", "{not_a_model}"],
    "missing model": ["generate", "--model", "no_model.joblib"],
    "bad epsilon rule": [
        "generate",
        "--input",
        "{plain}",
        "--weights",
        "{weights}",
        "--epsilon",
        "wide",
    ],
    "fallback without labels": ["weights", "--fallback", "--input", "{plain}"],
}


@pytest.mark.parametrize("args", BAD_RUNS.values(), ids=BAD_RUNS.keys())
def test_user_mistakes_give_one_error_line(tmp_path, files, args):
    args = [arg.format(**files) for arg in args]
    result = run([*args, "-o", "out.csv", "--quiet"], tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("skaidm: error: ")
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []  # no output, no temp file


def test_missing_output_directory_fails_before_fitting(tmp_path, files):
    result = run(
        ["generate", "--input", files["plain"], "-o", "no/such/dir.csv", "--quiet"],
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("skaidm: error: --output: directory")
    assert os.listdir(tmp_path) == []


def test_weights_fallback_round_trips(tmp_path, files):
    result = run(
        ["weights", "--fallback", "--input", files["labelled"], "-o", "w.csv"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "NOT Transformer attention" in result.stderr
    w = read_weights(tmp_path / "w.csv", n_features=N_BANDS)
    assert w.shape == (N_BANDS,)
    assert w.sum() == pytest.approx(1.0)
    with open(tmp_path / "w.csv", encoding="utf-8") as f:
        assert f.readline().strip() == "band,wavelength_nm,weight"


def test_weights_from_attention(tmp_path, files):
    rng = np.random.default_rng(0)
    attention = rng.random((6, N_BANDS))
    write_csv(tmp_path / "att.csv", files["names"], attention.tolist())
    result = run(
        ["weights", "--from-attention", "att.csv", "-o", "w.csv", "--quiet"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    w = read_weights(tmp_path / "w.csv", n_features=N_BANDS)
    expected = attention.mean(axis=0)
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-6)
