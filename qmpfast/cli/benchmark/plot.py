"""Bar chart of a runner ``--json`` result (``qmpfast bench --plot``,
``python -m benchmarks.plot``): one panel per job.

    python -m benchmarks.plot results.json results.png

Why a separate module: matplotlib is optional, and the runner must work
without it.  Without matplotlib this says so and exits non-zero.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any, Dict, Optional, Sequence, Union

Results = Dict[str, Any]


class PlotError(Exception):
    """No chart: matplotlib is missing, or the results hold nothing."""


def _load(results_json: Union[Results, str, "os.PathLike[str]"]) -> Results:
    if isinstance(results_json, dict):
        return results_json
    with open(results_json) as f:
        loaded: Results = json.load(f)
        return loaded


def plot(results_json: Union[Results, str, "os.PathLike[str]"],
         out_png: Union[str, "os.PathLike[str]"]) -> str:
    """Draw ns/event per peer for each job into ``out_png``; return its path.

    ``results_json``: path of a file written by ``--json``, or its content
    as a dict.  Raises PlotError (with the reason) if matplotlib is
    missing.  matplotlib is imported by name: the type check does not
    need it.
    """
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        raise PlotError("the chart needs matplotlib, which is not "
                        "installed: pip install matplotlib") from None
    res = _load(results_json)
    jobs = [j for j, r in res["results"].items() if r["rows"]]
    if not jobs:
        raise PlotError("no measurements in the results")
    fig, axes = plt.subplots(1, len(jobs), figsize=(4.2 * len(jobs), 4.2),
                             squeeze=False)
    for ax, job in zip(axes[0], jobs):
        rows = sorted(res["results"][job]["rows"], key=lambda r: r["ns_per_event"])
        names = [r["variant"] for r in rows]
        values = [r["ns_per_event"] for r in rows]
        colors = ["tab:red" if n.startswith("qmpfast") else "tab:blue"
                  for n in names]
        bars = ax.barh(names, values, color=colors, height=0.6)
        ax.bar_label(bars, fmt="%.0f", padding=2, fontsize=8)
        ax.set_ylim(max(len(names), 4) - 0.5, -0.5)   # fastest on top

        ax.set_title(job)
        ax.set_xlabel("ns per event (lower is better)")
        ax.margins(x=0.2)
    cfg, machine = res.get("config", {}), res.get("machine", {})
    fig.suptitle(f"QMP parsing, {cfg.get('size_mb', '?')} MiB stream, "
                 f"{machine.get('cpu', '')}, {machine.get('python', '')}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return str(out_png)


def main(argv: Optional[Sequence[str]] = None,
         prog: str = "python -m qmpfast.cli.benchmark.plot") -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(f"usage: {prog} RESULTS.json OUT.png", file=sys.stderr)
        return 2
    try:
        print(plot(argv[0], argv[1]))
    except PlotError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
