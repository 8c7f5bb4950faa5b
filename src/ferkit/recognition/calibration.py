"""Honest confidence: expected calibration error, reliability bins and temperature scaling
(Guo et al., 2017) on probabilities, numpy only.

A temperature T divides the logits: T > 1 softens over-confident probabilities, T < 1 sharpens
under-confident ones. It is fitted on held-out faces (never the test set, never faces the model
trained on) and stored in the model's metadata, where `Recognizer.classify` applies it.
"""

from __future__ import annotations

import numpy as np

BINS = 15
FIT_BINS = range(10, 21)  # smoothed_calibration_error's bin counts
FITS = ("ece", "nll")  # what fit_temperature minimises


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax(log(probs) / T): the same ranking, sharper or softer probabilities."""
    if temperature == 1.0 or len(probs) == 0:
        return probs
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(probs.dtype, copy=False)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin: its range, how many faces, their mean confidence and accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        count = int(inside.sum())
        rows.append({"low": float(lo), "high": float(hi), "count": count,
                     "confidence": float(confidence[inside].mean()) if count else None,
                     "accuracy": float(correct[inside].mean()) if count else None})
    return rows


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """The gap between confidence and accuracy, averaged over bins weighted by their size
    (the bins of reliability(): (low, high], the first one from 0)."""
    if len(labels) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    gap = (probs.argmax(axis=1) == labels) - confidence
    where = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    return float(np.abs(np.bincount(where, weights=gap, minlength=bins)).sum() / len(labels))


def ece_of_bins(bins: list[dict]) -> float:
    """expected_calibration_error from reliability() bins (NaN when they hold no face)."""
    total = sum(b["count"] for b in bins)
    if not total:
        return float("nan")
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in bins if b["count"]))


def calibration_error_floor(probs: np.ndarray, bins: int = BINS, draws: int = 200,
                            seed: int = 0) -> float:
    """The calibration error a perfectly calibrated model with these confidences would still
    show on this many faces (each right with probability equal to its confidence), averaged
    over `draws`: sampling noise, the floor below which a measured error means nothing."""
    if len(probs) == 0:
        return float("nan")
    predicted = probs.argmax(axis=1)
    wrong = (predicted + 1) % probs.shape[1]  # any other class
    rng = np.random.default_rng(seed)
    errors = [expected_calibration_error(probs, np.where(rng.random(len(probs)) < probs.max(1),
                                                         predicted, wrong), bins)
              for _ in range(draws)]
    return float(np.mean(errors))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)).mean())


def smoothed_calibration_error(probs: np.ndarray, labels: np.ndarray) -> float:
    """expected_calibration_error averaged over 10 to 20 bins: where a bin's edge falls
    between two close confidences matters less, so it changes smoothly with a temperature."""
    return float(np.mean([expected_calibration_error(probs, labels, bins) for bins in FIT_BINS]))


def fit_temperature(probs: np.ndarray, labels: np.ndarray, fit: str = "ece") -> float:
    """The T in [0.2, 5] that minimises, on `labels`, the calibration error of the confidence
    people read (the top probability; smoothed over bin counts) with fit="ece", or the
    negative log-likelihood of all the probabilities with fit="nll" (Guo et al.). They can
    differ: on a FER2013 run the NLL's T sharpened more than the confidence needed
    (docs/MODEL_CARD.md, "Calibration")."""
    if len(labels) == 0:
        raise ValueError("no faces to fit a temperature on")
    if fit == "ece":
        grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 401))  # steps of 0.8%
        errors = [smoothed_calibration_error(apply_temperature(probs, float(t)), labels)
                  for t in grid]
        return float(grid[int(np.argmin(errors))])
    if fit != "nll":
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")

    def nll(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(probs, float(np.exp(log_t))), labels)

    grid = np.linspace(np.log(0.2), np.log(5.0), 41)
    best = int(np.argmin([nll(t) for t in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if nll(a) < nll(b):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))
