"""The README's main job, run as a user would: ``python -m skaidm`` in a subprocess."""

import os
import subprocess
import sys


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
    plain = next(line for line in out.splitlines() if line.startswith("isotropic"))
    option_b = next(line for line in out.splitlines() if "Option B" in line)
    # Plain PLoM on whitened data: Soize's gap rule, m = r + 1 with r = 49.
    assert " gap " in plain
    assert " 50 " in plain
    # Option B: knn bandwidth, m by reconstruction to the default tolerance 0.2.
    assert " knn " in option_b
    assert "reconstruction" in option_b
    recon = float(option_b.split()[-3])
    assert recon <= 0.2
    assert "not Transformer attention" in out
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
