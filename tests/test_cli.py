"""The ``skaidm`` command, run as a user would: in subprocesses, on small inputs."""

import csv
import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, cross_validate

from skaidm.attention import read_class_weights, read_weights, write_weights
from skaidm.datasets import load_usgs_minerals
from skaidm.metrics import generation_scorer
from skaidm.pipeline import make_aidm_pipeline, sample

N_TRAIN = 150
N_SAMPLES = 50
N_BANDS = 285
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NO_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None; from skaidm.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib"
)


def command(args, code=None):
    start = ["-c", code] if code else ["-m", "skaidm.cli"]
    return [sys.executable, *start, *args]


def env():
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(args, cwd, code=None):
    return subprocess.run(
        command(args, code),
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_many(jobs):
    """Run ``(args, cwd)`` jobs concurrently (each starts a Python interpreter)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda job: run(*job), jobs))


# Forks one process per job from an interpreter that imported skaidm once: each
# job is a process of its own (exit code, stdout, stderr), without paying for
# the import of scikit-learn and SciPy every time.
FORK_DRIVER = """
import json, os, sys
from skaidm.cli import main
for argv, cwd, out, err in json.loads(sys.stdin.read()):
    pid = os.fork()
    if pid == 0:
        os.chdir(cwd)
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def run_forked(jobs, logs):
    """Run ``(args, cwd)`` jobs as processes forked from one interpreter.

    Their stdout and stderr go through files in ``logs``. Without ``os.fork``
    every job starts an interpreter of its own.
    """
    if not hasattr(os, "fork"):
        return run_many(jobs)
    streams = [(logs / f"{k}.out", logs / f"{k}.err") for k in range(len(jobs))]
    spec = [
        [args, str(cwd), str(out), str(err)]
        for (args, cwd), (out, err) in zip(jobs, streams, strict=True)
    ]
    driver = subprocess.run(
        [sys.executable, "-c", FORK_DRIVER],
        input=json.dumps(spec),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    codes = [int(code) for code in driver.stdout.split()]
    return [
        subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())
        for (args, _), code, (out, err) in zip(jobs, codes, streams, strict=True)
    ]


def png_size(path):
    """``(width, height)`` of a PNG file, after checking its signature."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_MAGIC
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def check_error_line(result):
    """Exit code 2 and exactly one ``skaidm: error:`` line on stderr."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("skaidm: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


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
    X = data.data[idx]
    # Three brightness classes: band_importance, whose cost grows with the number
    # of classes, stays fast (the 220 mineral names would take tens of seconds).
    brightness = X.mean(axis=1)
    y = np.array(["dark", "medium", "bright"])[
        np.digitize(brightness, np.quantile(brightness, [1 / 3, 2 / 3]))
    ]
    names = [str(name) for name in data.feature_names]
    spectra = [[repr(float(v)) for v in row] for row in X]
    paths = {
        "grouped": d / "grouped.csv",
        "class_attention": d / "class_attention.csv",
        "class_counts": d / "class_counts.csv",
        "short_class_attention": d / "short_class_attention.csv",
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
    write_csv(
        paths["grouped"],
        ["label", "sample", *names],
        [
            [label, group, *row]
            for label, group, row in zip(y, data.groups[idx], spectra, strict=True)
        ],
    )
    attention = np.random.default_rng(1).random((3, N_BANDS))
    attention /= attention.sum(axis=1, keepdims=True)  # each class mean sums to 1
    write_csv(
        paths["class_attention"],
        ["class", *names],
        [[name, *row] for name, row in zip("abc", attention.tolist(), strict=True)],
    )
    write_csv(paths["class_counts"], ["label", "count"], [["a", 5], ["b", 1], ["c", 2]])
    write_csv(
        paths["short_class_attention"],
        ["class", "1", "2"],
        [[name, 1, 2] for name in "abc"],
    )
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


def test_help(tmp_path_factory):
    commands = ([], ["generate"], ["sweep"], ["weights"])
    cwd, logs = tmp_path_factory.mktemp("help"), tmp_path_factory.mktemp("logs")
    results = run_forked([([*args, "--help"], cwd) for args in commands], logs)
    for args, result in zip(commands, results, strict=True):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: {' '.join(['skaidm', *args])}")
    assert "--report" in results[1].stdout
    assert "--heatmap" in results[2].stdout


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
            "--n-jobs",
            "1",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # Default output name; progress lines and the fallback notice on stderr.
    X = check_spectra(tmp_path / "skaidm_synthetic.csv", files["names"])
    assert "NOT Transformer attention" in result.stderr
    stages = ("loading", "fitting", "diffusion map: epsilon=", "PLoM: N=150")
    stages += ("sampling", "PLoM realisations", "drawing the report", "writing")
    for stage in stages:
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
    # The default report is named after the output; --model without --input
    # has no real spectra to compare with, hence no second report.
    assert sorted(os.listdir(tmp_path)) == [
        "again.csv",
        "model.joblib",
        "skaidm_synthetic.csv",
        "skaidm_synthetic_report.png",
    ]
    assert png_size(tmp_path / "skaidm_synthetic_report.png") == (1500, 900)
    # The saved model samples in-process exactly as the command did.
    model = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(sample(model, N_SAMPLES, random_state=3), X)


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
            "--no-report",
            "--quiet",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    check_spectra(tmp_path / "out.csv", files["names"], high=2.0)
    assert os.listdir(tmp_path) == ["out.csv"]


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
    "unknown report type": ["generate", "--input", "{plain}", "--report", "r.xyz"],
    "report directory missing": [
        "generate",
        "--input",
        "{plain}",
        "--report",
        "no/such/dir/r.png",
    ],
    "report from a model without spectra": [
        "generate",
        "--model",
        "{not_a_model}",
        "--report",
        "r.png",
    ],
    "class counts without weights": [
        "generate",
        "--input",
        "{plain}",
        "--class-counts",
        "{class_counts}",
    ],
    "class attention of the wrong length": [
        "generate",
        "--input",
        "{plain}",
        "--weights",
        "{short_class_attention}",
        "--class-counts",
        "{class_counts}",
    ],
    "missing class counts": [
        "generate",
        "--input",
        "{plain}",
        "--weights",
        "{class_attention}",
        "--class-counts",
        "no_counts.csv",
    ],
    "sweep without groups": ["sweep", "--input", "{labelled}"],
    "sweep groups column missing": [
        "sweep",
        "--input",
        "{grouped}",
        "--groups",
        "specimen",
    ],
    "sweep groups with built-in data": ["sweep", "--groups", "sample"],
    "sweep fewer groups than splits": [
        "sweep",
        "--input",
        "{grouped}",
        "--groups",
        "sample",
        "--n-splits",
        "1000",
    ],
    "sweep one split": ["sweep", "--n-splits", "1"],
    "sweep non-numeric cell": [
        "sweep",
        "--input",
        "{text_cell}",
        "--groups",
        "{names[0]}",
    ],
    "sweep data outside the bounds": [
        "sweep",
        "--input",
        "{grouped}",
        "--groups",
        "sample",
        "--bounds",
        "0",
        "0.5",
    ],
    "sweep bad epsilon": ["sweep", "--epsilon", "knn", "-3"],
    "sweep bad alpha": ["sweep", "--alpha", "0.5", "strong"],
    "sweep unknown metric": ["sweep", "--metric", "psnr"],
    "sweep heat-map directory is a file": ["sweep", "--heatmap", "{plain}/h.png"],
    "sweep model directory missing": ["sweep", "--save-model", "no/dir/m.joblib"],
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory, files):
    """Every run of BAD_RUNS, each in an empty directory of its own."""
    jobs = []
    for k, args in enumerate(BAD_RUNS.values()):
        args = [arg.format(**files) for arg in args]
        cwd = tmp_path_factory.mktemp(f"bad{k}")
        jobs.append(([*args, "-o", "out.csv", "--quiet"], cwd))
    results = run_forked(jobs, tmp_path_factory.mktemp("bad_logs"))
    return {
        name: (result, cwd)
        for name, result, (_, cwd) in zip(BAD_RUNS, results, jobs, strict=True)
    }


@pytest.mark.parametrize("name", BAD_RUNS)
def test_user_mistakes_give_one_error_line(bad_runs, name):
    result, cwd = bad_runs[name]
    check_error_line(result)
    assert os.listdir(cwd) == []  # no output, no temp file


def test_user_mistakes_name_the_problem(bad_runs):
    def line(name):
        return bad_runs[name][0].stderr

    assert "--groups COLUMN" in line("sweep without groups")
    assert "'specimen'" in line("sweep groups column missing")
    assert "'label', 'sample'" in line("sweep groups column missing")
    assert "--n-splits 1000" in line("sweep fewer groups than splits")
    assert "column 8: 'n/a' is not a number" in line("sweep non-numeric cell")
    assert "argument --epsilon: '-3'" in line("sweep bad epsilon")
    assert "argument --alpha: 'strong'" in line("sweep bad alpha")
    assert "unknown image type .xyz" in line("unknown report type")
    assert "needs --input FILE" in line("report from a model without spectra")
    assert "need --weights FILE" in line("class counts without weights")
    assert "--bounds 0 0.5" in line("sweep data outside the bounds")


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
        [
            "weights",
            "--fallback",
            "--input",
            files["labelled"],
            "-o",
            "w.csv",
            "--n-jobs",
            "1",
        ],
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


SWEEP_ALPHAS = (0.5, 1.0)
SWEEP_EPSILONS = ("knn", "5")
SWEEP_SEED = 1
SWEEP_SPLITS = 2
SWEEP_SAMPLES = 60


def read_table(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def expected_split_scores(files, alpha, epsilon):
    """The scores of one cell, computed in-process with scikit-learn's tools."""
    data = load_usgs_minerals()
    with open(files["grouped"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    X = np.array([row[2:] for row in rows], dtype=np.float64)
    groups = [row[1] for row in rows]
    assert X.shape[1] == len(data.feature_names)
    pipe = make_aidm_pipeline(
        read_weights(files["weights"], n_features=N_BANDS),
        alpha=alpha,
        variant="B",
        bounds=(0.0, 1.5),
        epsilon=epsilon if epsilon == "knn" else float(epsilon),
        random_state=SWEEP_SEED,
    )
    scores = cross_validate(
        pipe,
        X,
        groups=groups,
        cv=GroupKFold(n_splits=SWEEP_SPLITS),
        scoring=generation_scorer(
            "energy", n_samples=SWEEP_SAMPLES, random_state=SWEEP_SEED
        ),
    )["test_score"]
    return -scores  # energy distance, lower is better


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory, files):
    cwd = tmp_path_factory.mktemp("sweep")
    args = [
        "sweep",
        "--input",
        files["grouped"],
        "--groups",
        "sample",
        "--alpha",
        *map(str, SWEEP_ALPHAS),
        "--epsilon",
        *SWEEP_EPSILONS,
        "--n-splits",
        str(SWEEP_SPLITS),
        "--n-samples",
        str(SWEEP_SAMPLES),
        "--weights",
        files["weights"],
        "--seed",
        str(SWEEP_SEED),
        "--n-jobs",
        "2",
        "-o",
        "table.csv",
        "--save-model",
        "best.joblib",
    ]
    if importlib.util.find_spec("matplotlib") is not None:
        args += ["--heatmap", "heat.png"]
    return run(args, cwd), cwd


def test_sweep_table_matches_an_independent_computation(sweep_run, files):
    result, cwd = sweep_run
    assert result.returncode == 0, result.stderr
    rows = read_table(cwd / "table.csv")
    assert list(rows[0]) == [
        "alpha",
        "epsilon",
        "mean",
        "std",
        "split_1",
        "split_2",
        "epsilon_fitted",
        "m_fitted",
        "metric",
    ]
    cells = [(float(row["alpha"]), row["epsilon"]) for row in rows]
    assert cells == [(0.5, "knn"), (0.5, "5.0"), (1.0, "knn"), (1.0, "5.0")]
    for row in rows:
        scores = np.array([float(row["split_1"]), float(row["split_2"])])
        assert float(row["mean"]) == pytest.approx(scores.mean(), rel=1e-12)
        assert float(row["std"]) == pytest.approx(scores.std(), rel=1e-12)
        assert row["metric"] == "energy"
        if row["epsilon"] != "knn":
            assert float(row["epsilon_fitted"]) == 5.0
    for k in (0, 3):
        alpha, epsilon = cells[k]
        expected = expected_split_scores(files, alpha, epsilon.replace(".0", ""))
        scores = [float(rows[k]["split_1"]), float(rows[k]["split_2"])]
        np.testing.assert_allclose(scores, expected, rtol=1e-9)


def test_sweep_prints_the_best_cell_and_progress(sweep_run):
    result, cwd = sweep_run
    rows = read_table(cwd / "table.csv")
    best = min(rows, key=lambda row: float(row["mean"]))
    epsilon = best["epsilon"].replace(".0", "")
    lines = result.stdout.splitlines()
    assert lines[-1].startswith(f"best: alpha={float(best['alpha']):g}, ")
    assert f"epsilon={epsilon} " in lines[-1]
    marked = [line for line in lines if line.endswith("<- best")]
    assert len(marked) == 1
    assert marked[0].startswith("* ")
    assert marked[0].split()[1:3] == [f"{float(best['alpha']):g}", epsilon]
    assert "energy distance (lower is better)" in lines[0]
    for i in range(1, 5):
        assert f"cell {i}/4: alpha=" in result.stderr


@needs_matplotlib
def test_sweep_heatmap_is_a_png(sweep_run):
    _, cwd = sweep_run
    width, height = png_size(cwd / "heat.png")
    assert width > 300
    assert height > 200
    assert (cwd / "heat.png").stat().st_size > 10_000


def test_sweep_model_is_the_best_cell_and_samples(sweep_run, files):
    result, cwd = sweep_run
    rows = read_table(cwd / "table.csv")
    best = min(rows, key=lambda row: float(row["mean"]))
    model = joblib.load(cwd / "best.joblib")
    params = model.get_params()
    assert params["plom__kernel_attention__alpha"] == float(best["alpha"])
    epsilon = params["plom__diffusion_map__epsilon"]
    assert str(epsilon) == best["epsilon"]
    assert model.skaidm_feature_names_ == files["names"]
    result = run(
        [
            "generate",
            "--model",
            "best.joblib",
            "--n-samples",
            str(N_SAMPLES),
            "-o",
            "from_model.csv",
            "--quiet",
        ],
        cwd,
    )
    assert result.returncode == 0, result.stderr
    X = check_spectra(cwd / "from_model.csv", files["names"])
    np.testing.assert_array_equal(X, sample(model, N_SAMPLES, random_state=0))


@needs_matplotlib
def test_generate_report_with_class_counts(tmp_path, files):
    (tmp_path / "figures").mkdir()
    result = run(
        [
            "generate",
            "--input",
            files["labelled"],
            "--weights",
            files["class_attention"],
            "--class-counts",
            files["class_counts"],
            "--n-samples",
            str(N_SAMPLES),
            "--report",
            "figures/report.png",
            "--save-model",
            "model.joblib",
            "-o",
            "out.csv",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "reading per-class attention" in result.stderr
    assert "drawing the report" in result.stderr
    assert "NOT Transformer attention" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["figures", "model.joblib", "out.csv"]
    assert os.listdir(tmp_path / "figures") == ["report.png"]
    assert png_size(tmp_path / "figures" / "report.png") == (1500, 900)
    assert (tmp_path / "figures" / "report.png").stat().st_size > 50_000
    check_spectra(tmp_path / "out.csv", files["names"])
    # The weights are the class-count average of the per-class attention.
    w = read_class_weights(files["class_attention"], files["class_counts"])
    fitted = joblib.load(tmp_path / "model.joblib")[-1].kernel_attention_.weights_
    np.testing.assert_allclose(fitted, w * (N_BANDS / w.sum()), rtol=1e-12)


def test_report_without_matplotlib(tmp_path, files):
    base = ["generate", "--input", files["plain"], "--weights", files["weights"]]
    base += ["--n-samples", str(N_SAMPLES), "--quiet"]
    explicit = run([*base, "--report", "r.png"], tmp_path, code=NO_MATPLOTLIB)
    line = check_error_line(explicit)
    assert 'pip install "skaidm[plotting]"' in line
    assert os.listdir(tmp_path) == []
    default = run(base, tmp_path, code=NO_MATPLOTLIB)
    assert default.returncode == 0, default.stderr
    lines = default.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("skaidm: warning: matplotlib is not installed")
    assert 'pip install "skaidm[plotting]"' in lines[0]
    assert os.listdir(tmp_path) == ["skaidm_synthetic.csv"]


def test_interrupted_sweep_leaves_no_file(tmp_path, files):
    process = subprocess.Popen(
        command(
            [
                "sweep",
                "--input",
                files["grouped"],
                "--groups",
                "sample",
                "--weights",
                files["weights"],
                "--alpha",
                "0.5",
                "0.7",
                "1",
                "--n-splits",
                "2",
                "--n-samples",
                "20",
                "--n-jobs",
                "1",
                "-o",
                "table.csv",
                "--save-model",
                "model.joblib",
            ]
        ),
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if "cell 1/9" in line:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "skaidm: interrupted"
    assert os.listdir(tmp_path) == []
