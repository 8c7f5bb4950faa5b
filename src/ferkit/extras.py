"""Which optional extra installs a missing module, said as one clear error."""

from __future__ import annotations

import importlib.util

from .errors import FerkitError

# a module -> the smallest extra that installs it
EXTRAS = {
    **dict.fromkeys(("torch", "torchvision", "onnxscript"), "train"),
    **dict.fromkeys(("sklearn", "scipy", "matplotlib", "seaborn", "onnx", "sympy"), "evaluate"),
    **dict.fromkeys(("cv2", "av"), "video"),
    **dict.fromkeys(("fastapi", "fastapi_offline", "uvicorn", "multipart",
                      "python_multipart"), "serve"),
    **dict.fromkeys(("ray", "pyarrow"), "ray"),
}
# what to call a module whose package has another name
PACKAGES = {"sklearn": "scikit-learn", "cv2": "OpenCV", "av": "PyAV",
            "multipart": "python-multipart", "python_multipart": "python-multipart",
            "fastapi_offline": "fastapi-offline"}


def explain(what: str, error: ModuleNotFoundError, extra: str | None = None
            ) -> FerkitError | None:
    """"`what` needs X: pip install 'ferkit[extra]'" for a module an extra installs, else None.

    extra: the one to name instead of the module's smallest (a command whose own extra has
    everything it needs)."""
    missing = (error.name or "").split(".")[0]
    if missing not in EXTRAS:
        return None
    return FerkitError(f"{what} needs {PACKAGES.get(missing, missing)}: "
                       f"pip install 'ferkit[{extra or EXTRAS[missing]}]'")


def require(what: str, *modules: str) -> None:
    """Fail at once, before any long work, when one of these modules is not installed."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise explain(what, ModuleNotFoundError(name=module)) or FerkitError(
                f"{what} needs {module}")
