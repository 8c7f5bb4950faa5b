"""Figures: training curves and confusion matrices (matplotlib + seaborn, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: training runs on servers without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from ..io.atomic import save_figure  # noqa: E402
from ..recognition.calibration import ece_of_bins  # noqa: E402


def _save(fig, path: str | Path) -> None:
    try:
        save_figure(fig, path, dpi=120)
    finally:
        plt.close(fig)


def plot_history(history: list[dict], path: str | Path) -> None:
    """Loss and accuracy per epoch, train and validation, side by side."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        ax_loss.plot(epochs, [h[key] for h in history], marker="o", label=label)
    for key, label in (("train_acc", "train"), ("val_acc", "validation")):
        ax_acc.plot(epochs, [100 * h[key] for h in history], marker="o", label=label)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_confusion_matrix(cm: np.ndarray, classes: list[str], path: str | Path, title: str = "",
                          predicted: list[str] | None = None):
    """Counts and row-normalised (recall per true class) matrices side by side; `predicted`
    names the columns when they are more than the classes (e.g. "no face")."""
    predicted = predicted or classes
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    fig, (ax_n, ax_p) = plt.subplots(1, 2, figsize=(15 + len(predicted) - len(classes), 6))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", ax=ax_n,
                xticklabels=predicted, yticklabels=classes)
    sns.heatmap(norm, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, ax=ax_p,
                xticklabels=predicted, yticklabels=classes)
    ax_n.set(title="Counts", xlabel="predicted", ylabel="true")
    ax_p.set(title="Row-normalised (recall)", xlabel="predicted", ylabel="true")
    for ax in (ax_n, ax_p):  # long names ("surprise", "no face") would run into each other
        ax.tick_params(axis="x", labelrotation=30)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_reliability(curves: dict[str, list[dict]], path: str | Path, title: str = ""):
    """Reliability diagram: accuracy against confidence per bin (the diagonal is perfect
    calibration), one line per named curve (e.g. before / after a temperature), with the
    share of faces per bin below. A bin with under 0.5% of the faces is left off the line (its
    accuracy is a coin or two), not off the bars or the ECE."""
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, bins in curves.items():
        total = sum(b["count"] for b in bins)
        shown = [b for b in bins if b["count"] >= max(2, 0.005 * total)]
        label = f"{name + ': ' if name else ''}ECE {ece_of_bins(bins):.1%}"
        ax.plot([b["confidence"] for b in shown], [b["accuracy"] for b in shown], marker="o",
                label=label)
        ax_n.bar([(b["low"] + b["high"]) / 2 for b in bins],
                 [b["count"] / total for b in bins], width=0.9 / len(bins), alpha=0.5,
                 label=name or None)
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title or "Reliability")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax_n.set(xlabel="confidence (top probability)", ylabel="share of faces")
    ax_n.grid(alpha=0.3)
    _save(fig, path)


def plot_mistakes(mistakes: list[tuple], classes: list[str], path: str | Path, title: str = ""):
    """A grid of faces the model got wrong, as (confidence, name, label, predicted, grey
    thumbnail): each with its file, its label and what the model said."""
    cols = min(6, max(2, len(mistakes)))
    rows = max(1, -(-len(mistakes) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.5 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (confidence, name, label, predicted, face) in zip(axes.flat, mistakes, strict=False):
        ax.imshow(face, cmap="gray", vmin=0, vmax=255)
        short = name if len(name) <= 24 else "…" + name[-23:]
        ax.set_title(f"{classes[label]} → {classes[predicted]} {confidence:.0%}\n{short}",
                     fontsize=8)
    if not mistakes:
        axes.flat[0].text(0, 0.5, "no mistakes", fontsize=14)
    fig.suptitle(title or "Most confident mistakes (label → prediction)", fontsize=10)
    _save(fig, path)


def plot_recall(comparison: dict, path: str | Path, title: str = "") -> None:
    """`ferkit compare`: each model's recall per class as grouped bars, its accuracy in the
    legend."""
    classes, models = comparison["classes"], comparison["models"]
    width = 0.8 / len(models)
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(classes) * max(1, len(models) / 2)), 4.5))
    for i, m in enumerate(models):
        recall = [100 * (m["recall"][c] or 0) for c in classes]
        ax.bar(x + (i - (len(models) - 1) / 2) * width, recall, width,
               label=f"{Path(m['model']).name}: {m['accuracy']:.1%}")
    ax.set_xticks(x, classes)
    ax.set(ylabel="recall (%)", ylim=(0, 100), title=title or "recall per class")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
