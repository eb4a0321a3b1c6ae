"""The bench's outputs: the printed table, the JSON file and the ratio plot."""
import json
import os

HEADER = (f"{'op':<16} {'shape':<30} {'contender':<10} {'ms':>9} {'rate':>16} {'%peak':>6} "
          f"{'ember speedup':>14}")


def format_row(row):
    """One printed line; %peak is blank where the row's rate has no peak to compare with (images/s)."""
    percent = "" if row["percent_peak"] is None else f"{row['percent_peak']:.0f}"
    return (f"{row['op']:<16} {row['shape']:<30} {row['contender']:<10} {row['ms']:9.3f} "
            f"{row['rate']:8.1f} {row['unit']:<7} {percent:>6} {row['ember_speedup']:14.2f}")


def write_json(path, document):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(document, f, indent=1)


def plot_ratios(path, rows, title=""):
    """Horizontal bars of ember's speedup over each peer, one group per entry (log scale, 1 = parity); returns
    False without writing anything when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = list(dict.fromkeys((r["op"], r["shape"]) for r in rows))
    peers = list(dict.fromkeys(r["contender"] for r in rows if r["contender"] != "ember"))
    speedup = {(r["op"], r["shape"], r["contender"]): r["ember_speedup"] for r in rows}
    height = 0.8 / max(len(peers), 1)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.32 * len(entries) * max(len(peers), 1)))
    for k, peer in enumerate(peers):
        ys = [i + k * height for i, (op, shape) in enumerate(entries) if (op, shape, peer) in speedup]
        xs = [speedup[(op, shape, peer)] for op, shape in entries if (op, shape, peer) in speedup]
        ax.barh(ys, [x - 1 for x in xs], left=1, height=height, label=f"vs {peer}")  # bars grow from parity
    ax.set_yticks([i + height * (len(peers) - 1) / 2 for i in range(len(entries))])
    ax.set_yticklabels([f"{op} {shape}" for op, shape in entries], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("ember speedup (peer's time / ember's time; > 1: ember faster)")
    ax.legend(loc="lower right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
