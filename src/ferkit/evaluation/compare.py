"""`ferkit compare`: two or more models on the same faces, and whether their difference is
more than the luck of the sample.

Each model classifies every face exactly as `ferkit evaluate` does. Accuracy comes with a
95% Wilson interval; each model after the first is compared with the first on the same faces:
the faces one gets right and the other wrong (the only ones that tell them apart) go through
an exact McNemar test, and the difference in accuracy and in macro-F1 gets a 95% paired
bootstrap interval. On FER2013's 3,589 test faces, half a point is within the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP = 2000  # paired resamples of the faces for the intervals of a difference
ALPHA = 0.05


@dataclass
class Scored:
    """One model's answers on the faces: its name, predicted class per face, probabilities."""

    name: str
    predicted: np.ndarray
    probs: np.ndarray


def wilson_interval(right: int, n: int) -> tuple[float, float]:
    """95% interval of an accuracy of right / n (Wilson's score interval)."""
    from scipy.stats import binomtest

    if n == 0:
        return 0.0, 1.0
    ci = binomtest(right, n).proportion_ci(confidence_level=1 - ALPHA, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_p(only_first: int, only_second: int) -> float:
    """Exact McNemar test: how likely a split this uneven of the faces exactly one of two
    models gets right, if both were equally accurate (a two-sided binomial test)."""
    from scipy.stats import binomtest

    discordant = only_first + only_second
    return 1.0 if discordant == 0 else float(binomtest(only_first, discordant).pvalue)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro-averaged F1 over all classes (0 for a class never predicted nor present)."""
    confusion = np.bincount(y_true * n_classes + y_pred, minlength=n_classes ** 2
                            ).reshape(n_classes, n_classes)
    tp = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(0) + confusion.sum(1)
    f1 = np.divide(2 * tp, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return float(f1.mean())


def paired_intervals(y_true: np.ndarray, first: np.ndarray, other: np.ndarray, n_classes: int,
                     resamples: int = BOOTSTRAP, seed: int = 0) -> dict:
    """95% bootstrap intervals of other - first in accuracy and macro-F1, resampling faces
    (the same faces for both models: a paired bootstrap)."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    acc, f1 = np.empty(resamples), np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, n, n)
        t = y_true[idx]
        acc[i] = np.mean(other[idx] == t) - np.mean(first[idx] == t)
        f1[i] = macro_f1(t, other[idx], n_classes) - macro_f1(t, first[idx], n_classes)
    q = [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)]
    return {"accuracy_diff_ci": [float(v) for v in np.percentile(acc, q)],
            "macro_f1_diff_ci": [float(v) for v in np.percentile(f1, q)]}


def compare(scored: list[Scored], y_true: np.ndarray, classes: list[str]) -> dict:
    """Each model's accuracy (with its interval), macro-F1, calibration error and recall per
    class; each model after the first against the first."""
    from ..recognition.calibration import expected_calibration_error

    n, k = len(y_true), len(classes)
    models = []
    first = scored[0]
    for s in scored:
        right = s.predicted == y_true
        low, high = wilson_interval(int(right.sum()), n)
        row = {"model": s.name, "accuracy": float(right.mean()), "accuracy_ci": [low, high],
               "macro_f1": macro_f1(y_true, s.predicted, k),
               "ece": expected_calibration_error(s.probs, y_true),
               "recall": {c: float(right[y_true == i].mean()) if np.any(y_true == i) else None
                          for i, c in enumerate(classes)}}
        if s is not first:
            only_first = int(np.sum((first.predicted == y_true) & ~right))
            only_this = int(np.sum(~(first.predicted == y_true) & right))
            row["against_first"] = {
                "only_first_right": only_first, "only_this_right": only_this,
                "same_label": float(np.mean(first.predicted == s.predicted)),
                "mcnemar_p": mcnemar_p(only_first, only_this),
                **paired_intervals(y_true, first.predicted, s.predicted, k)}
        models.append(row)
    return {"faces": n, "classes": classes, "models": models}


def verdict(against: dict) -> str:
    """The McNemar result in words."""
    if against["mcnemar_p"] >= ALPHA:
        return "no difference these faces can show"
    better = against["only_this_right"] > against["only_first_right"]
    return f"{'more' if better else 'less'} accurate than the first (p < {ALPHA})"


def report(result: dict) -> str:
    """The comparison as a text table, then one line per model after the first."""
    lines = [f"{'model':<32} {'accuracy (95% interval)':<26} {'macro-F1':>8} {'ECE':>6}"]
    for m in result["models"]:
        low, high = m["accuracy_ci"]
        accuracy = f"{m['accuracy']:.2%} ({low:.1%}-{high:.1%})"
        lines.append(f"{short(m['model']):<32} {accuracy:<26} {m['macro_f1']:>8.4f} "
                     f"{m['ece']:>6.2%}")
    first = result["models"][0]["model"]
    for m in result["models"][1:]:
        a = m["against_first"]
        acc_low, acc_high = a["accuracy_diff_ci"]
        f1_low, f1_high = a["macro_f1_diff_ci"]
        lines += ["", f"{short(m['model'])} against {short(first)}: same label on "
                  f"{a['same_label']:.1%} of the faces; right only here on "
                  f"{a['only_this_right']}, only there on {a['only_first_right']} "
                  f"(McNemar p = {a['mcnemar_p']:.3g}): {verdict(a)}",
                  f"  accuracy {m['accuracy'] - result['models'][0]['accuracy']:+.2%} "
                  f"(95% interval {acc_low:+.2%} to {acc_high:+.2%}), macro-F1 "
                  f"{m['macro_f1'] - result['models'][0]['macro_f1']:+.4f} "
                  f"({f1_low:+.4f} to {f1_high:+.4f})"]
    return "\n".join(lines)


def short(name: str) -> str:
    return name if len(name) <= 32 else "…" + name[-31:]

