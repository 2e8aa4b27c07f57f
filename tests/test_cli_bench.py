"""``qmpfast bench`` as a user runs it: from any folder, with the package
alone (the benchmark runner and its peers ship in qmpfast.cli.benchmark),
skipping the peers that are not installed."""

import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest
import setuptools

import qmpfast

REPO = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))
# A table row: variant, ns/event, MB/s, vs orjson, vs msgspec, spread, check
ROW = re.compile(r"^(\S+) +(\d+) +(\d+\.\d) +(\S+) +(\S+) +(\d+\.\d)% +(ok|WRONG)$",
                 re.M)


def bench(*args, cwd, pythonpath=REPO, timeout=300):
    env = dict(os.environ)
    env.pop("QMPFAST_PUREPYTHON", None)
    env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, "-m", "qmpfast", "bench", "--size-mb", "0.05",
         "--repeat", "1", *args],
        cwd=str(cwd), env=env, capture_output=True, text=True,
        timeout=timeout)


def tables(text):
    """{job: {variant: (ns/event, MB/s, check)}} of a bench output."""
    found = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        job = block.split()[0]
        found[job] = {m[0]: (int(m[1]), float(m[2]), m[6])
                      for m in ROW.findall(block)}
    return found


def test_bench_names_the_jobs_and_qmpfast_with_figures(tmp_path):
    assert not (tmp_path / "benchmarks").exists()   # not a checkout
    out = tmp_path / "bench.json"
    proc = bench("--jobs", "route", "filter", "typed", "--peers",
                 "stdlib-json", "qmpfast", "--pypy", "none",
                 "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "stream  : 0.05 MiB" in proc.stdout
    found = tables(proc.stdout)
    assert list(found) == ["route", "filter", "typed"]
    mine = f"qmpfast-{qmpfast.BACKEND}"
    for job, rows in found.items():
        ns, mb_s, check = rows[mine]
        assert ns > 0 and mb_s > 0 and check == "ok", (job, rows)
        assert set(rows) <= {"stdlib-json", "qmpfast-c", "qmpfast-python"}
    assert "stdlib-json" in found["route"] and "stdlib-json" not in \
        found["typed"]                               # json has no typed job
    report = json.loads(out.read_text())
    assert [r["variant"] for r in report["results"]["route"]["rows"]
            if r["variant"] == mine]


def test_bench_with_the_package_alone(tmp_path):
    """The package copied on its own, as a wheel installs it: no source
    tree anywhere on the path, run from an unrelated folder."""
    site = tmp_path / "site"
    shutil.copytree(os.path.join(REPO, "qmpfast"), site / "qmpfast",
                    ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = bench("--jobs", "route", "--peers", "qmpfast", "--pypy", "none",
                 cwd=elsewhere, pythonpath=str(site))
    assert proc.returncode == 0, proc.stderr
    rows = tables(proc.stdout)["route"]
    assert rows[f"qmpfast-{qmpfast.BACKEND}"][2] == "ok"


def test_bench_skips_peers_that_are_not_installed(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "orjson.py").write_text(
        'raise ImportError("no orjson in this test")\n')
    proc = bench("--jobs", "route", "--peers", "orjson", "qmpfast-c",
                 "qmpfast-python", "pypy-json", "--pypy", "/nonexistent/pypy3",
                 cwd=tmp_path, pythonpath=f"{blocked}{os.pathsep}{REPO}")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^orjson +: unavailable: orjson not installed "
                     r"\(no orjson in this test\)$", out, re.M)
    rows = tables(out)["route"]
    assert "not measured: orjson (" in out and "orjson" not in rows
    if platform.python_implementation() == "PyPy":
        # the runner is PyPy itself: its rows run here, --pypy unused
        assert rows["pypy-json"][2] == "ok"
    else:
        assert re.search(r"^pypy-json +: unavailable: cannot run "
                         r"/nonexistent/pypy3", out, re.M)
        assert "pypy-json (" in out and "pypy-json" not in rows
    assert rows["qmpfast-python"][2] == "ok"


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="--plot needs matplotlib")
def test_bench_plot(tmp_path):
    chart = tmp_path / "bench.png"
    proc = bench("--jobs", "route", "--peers", "qmpfast", "--pypy", "none",
                 "--plot", str(chart), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"chart written to {chart}" in proc.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_rejects_an_unknown_job(tmp_path):
    proc = bench("--jobs", "nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown job(s) ['nope']" in proc.stderr


def test_bench_defaults_are_small():
    from qmpfast.cli import build_parser
    args = build_parser().parse_args(["bench"])
    assert (args.size_mb, args.repeat) == (2, 3)


def test_the_benchmark_ships_with_the_package():
    """setuptools' package list (pyproject.toml) takes the subpackages."""
    found = setuptools.find_packages(REPO, include=["qmpfast", "qmpfast.*"])
    assert {"qmpfast.cli.benchmark", "qmpfast.cli.benchmark.peers"} <= \
        set(found)
