"""Date, machine, library versions, BLAS and threads of a benchmark run."""

import contextlib
import datetime
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info

import skaidm


def machine_info(load_average=True):
    """Markdown lines describing this run, for the top of an evidence page.

    Parameters
    ----------
    load_average : bool, default=True
        Add the 1-minute load average at the start (where the platform has one).
    """
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    lines = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs "
        f"({usable} usable by this process)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"matplotlib {matplotlib.__version__}, skaidm {skaidm.__version__}",
    ]
    for pool in threadpool_info():
        lib = Path(pool.get("filepath", "")).name
        lines.append(
            f"- {pool.get('user_api')}: {pool.get('internal_api')} "
            f"{pool.get('version')} ({pool.get('architecture')}, "
            f"{pool.get('threading_layer')}), {pool.get('num_threads')} threads, "
            f"`{lib}`"
        )
    env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    }
    lines.append(f"- thread environment variables: {env or 'none set'}")
    if load_average:
        with contextlib.suppress(AttributeError, OSError):
            lines.append(
                f"- 1-minute load average at the start: {os.getloadavg()[0]:.2f}"
            )
    return lines


def proc_status(pid="self"):
    """Peak (``VmHWM``) and current (``VmRSS``) resident memory of a process, MB.

    From /proc/<pid>/status; nan where /proc is unavailable. Not ``ru_maxrss``:
    Linux keeps it across ``execve``, so a worker started from a large process
    would report at least the parent's size at fork time; ``VmHWM`` belongs to the
    address space, which ``execve`` replaces.
    """
    out = {"VmHWM": math.nan, "VmRSS": math.nan}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1]) / 1024
    return out


def emit_phase(phase, **values):
    """Print one JSON line for :func:`run_monitored`: the phase, values, ``VmHWM``."""
    print(
        json.dumps({"phase": phase, **values, "hwm_mb": proc_status()["VmHWM"]}),
        flush=True,
    )


def run_monitored(cmd, timeout, cwd=None):
    """Run ``cmd`` in a fresh process, sampling its peak memory; kill at ``timeout``.

    The process reports its phases with :func:`emit_phase`. Its ``VmHWM`` is
    also sampled every 0.5 s from here, so the peak is known even for a killed run.

    Returns
    -------
    result : dict
        ``phases`` (phase name -> reported values, ``hwm_mb`` included),
        ``peak_mb`` (the largest of the sampled and reported peaks), ``wall_s``,
        ``timed_out``, ``returncode`` and ``stderr`` (list of lines).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        peak, timed_out = math.nan, False
        while proc.poll() is None:
            peak = np.nanmax([peak, proc_status(proc.pid)["VmHWM"]])
            if time.perf_counter() - start > timeout:
                proc.kill()
                proc.wait()
                timed_out = True
                break
            time.sleep(0.5)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        phases = {}
        for line in out.read().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                phases[record.pop("phase")] = record
        stderr = err.read().strip().splitlines()
    reported = [p.get("hwm_mb", math.nan) for p in phases.values()]
    return {
        "phases": phases,
        "peak_mb": float(np.nanmax([peak, *reported])),
        "wall_s": wall,
        "timed_out": timed_out,
        "returncode": proc.returncode,
        "stderr": stderr,
    }


def outcome(run, timeout):
    """One phrase for a :func:`run_monitored` result: ok, killed or the error."""
    if run["timed_out"]:
        return f"killed after {timeout:.0f} s"
    if run["returncode"] != 0:
        last = run["stderr"][-1] if run["stderr"] else ""
        return f"exit code {run['returncode']}: {last}"
    return "ok"
