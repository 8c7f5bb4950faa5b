"""A face's expressions over time, drawn (`ferkit video --plot`)."""

from __future__ import annotations

import numpy as np

from .frames import Track


def plot_timeline(tracks: list[Track], classes: list[str], path: str, title: str) -> None:
    """One panel per face (the 6 seen longest): each expression's probability over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.atomic import save_figure

    shown = sorted(tracks, key=lambda t: -len(t.times))[:6] or [None]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 2.6 * len(shown)), squeeze=False,
                             sharex=True)
    for ax, track in zip(axes[:, 0], shown, strict=True):
        if track is None:
            ax.text(0.5, 0.5, "no face found", ha="center", va="center")
            continue
        probs = np.array(track.probs)
        for i, c in enumerate(classes):
            ax.plot(track.times, probs[:, i], label=c, lw=1.5)
        ax.set(ylabel="probability", ylim=(0, 1), title=f"face #{track.id}")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(classes), fontsize=8, loc="upper center",
               bbox_to_anchor=(0.5, 0.995))
    fig.suptitle(title, y=1.02)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
