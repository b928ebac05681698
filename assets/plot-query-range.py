"""Plots a Prometheus `query_range` answer (JSON, from /api/v1/query_range) as one line per
series, time from the first point in seconds: the README's picture of tokmon_poll_running_seconds
during stalls. Usage: plot-query-range.py ANSWER.json OUT.png"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(answer_path, out_path):
    with open(answer_path) as f:
        answer = json.load(f)
    series = answer["data"]["result"]
    if not series:
        sys.exit("plot-query-range: the answer has no series")
    t0 = min(float(s["values"][0][0]) for s in series)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=120)
    for s in sorted(series, key=lambda s: s["metric"].get("worker", "")):
        times = [float(t) - t0 for t, _ in s["values"]]
        values = [float(v) for _, v in s["values"]]
        ax.step(times, values, where="post", label=f"worker {s['metric'].get('worker', '?')}")
    ax.axhline(1.0, color="tab:red", linestyle="--", linewidth=1, label="alert: > 1 s")
    ax.set_xlabel("seconds")
    ax.set_ylabel("tokmon_poll_running_seconds")
    ax.set_title("examples/stall_server: sleep 3000, then hash 2000 (Prometheus, 1 s scrapes)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
