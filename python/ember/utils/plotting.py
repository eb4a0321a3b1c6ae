"""Training curves from a History, with matplotlib (an optional dependency: `pip install "ember[examples]"`)."""


def plot_history(history, metrics=None, path=None, show=False):
    """One panel per quantity ("loss", "accuracy"...), training and validation curves together.

    Returns the matplotlib Figure; saves it to `path` when given.
    """
    try:
        import matplotlib

        if not show:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('plot_history needs matplotlib: pip install "ember[examples]"') from None
    logs = history.history if hasattr(history, "history") else dict(history)
    names = metrics or [k for k in logs if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], label=f"train {name}")
        if f"val_{name}" in logs:
            ax.plot(epochs, logs[f"val_{name}"], label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    if show:
        plt.show()
    return fig
