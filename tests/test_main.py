"""The README's main job, run as a user would: ``python -m skaidm`` in a subprocess."""

import os
import subprocess
import sys

from skaidm.pipeline import DEFAULT_RECONSTRUCTION_TOL


def test_python_m_skaidm_runs_on_the_built_in_data(tmp_path):
    # From an empty directory, so that the installed package (with its data files)
    # is what runs, not the source tree.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "skaidm"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "860 spectra x 285 EMIT bands" in out
    lines = out.splitlines()
    r = int(next(line for line in lines if "r = " in line).split("r = ")[1].split()[0])
    plain = next(line for line in lines if line.startswith("isotropic"))
    option_b = next(line for line in lines if line.startswith("band weights, alpha"))
    # Plain PLoM on whitened data: Soize's gap rule, m = r + 1, a gap ratio <= 0.1.
    fields = plain.split()
    assert fields[5:8] == ["gap", str(r + 1), "gap"]
    assert float(fields[8]) <= 0.1
    # Option B: knn bandwidth, m by reconstruction to the pipeline's tolerance.
    fields = option_b.split()
    assert fields[6] == "knn"
    assert fields[8] == "reconstruction"
    assert float(fields[10]) <= DEFAULT_RECONSTRUCTION_TOL
    assert "not Transformer attention" in out
    generated = next(line for line in lines if "new spectra" in line)
    assert "1000 new spectra" in generated
    assert result.stderr == ""


def test_bad_arguments_exit_with_a_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "skaidm", "--variance", "1.5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "--variance must be in (0, 1)" in result.stderr
    assert "Traceback" not in result.stderr
