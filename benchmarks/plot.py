"""Bar chart of a ``benchmarks.run --json`` result: one panel per job.

    python -m benchmarks.plot results.json results.png

Why a separate module: matplotlib is optional, and the runner must work
without it.  Without matplotlib this says so and exits non-zero.
"""

from __future__ import annotations

import json
import sys


def _load(results_json):
    if isinstance(results_json, dict):
        return results_json
    with open(results_json) as f:
        return json.load(f)


def plot(results_json, out_png) -> str:
    """Draw ns/event per peer for each job into ``out_png``; return its path.

    ``results_json``: path of a file written by ``--json``, or its content
    as a dict.  Raises SystemExit (status 1, with the reason) if matplotlib
    is missing.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("benchmarks.plot needs matplotlib, which is not "
                         "installed: pip install matplotlib") from None
    res = _load(results_json)
    jobs = [j for j, r in res["results"].items() if r["rows"]]
    if not jobs:
        raise SystemExit("no measurements in the results")
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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m benchmarks.plot RESULTS.json OUT.png",
              file=sys.stderr)
        return 2
    print(plot(argv[0], argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
