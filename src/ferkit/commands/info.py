"""`ferkit info`: what this installation has, to paste into a bug report: versions, each
extra and which of its packages are missing, ONNX Runtime's providers, the GPU PyTorch sees,
the CPU and the instructions int8 models need to be fast, and whether the bundled models are
the ones ferkit pins."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
from importlib import metadata

from .. import __version__
from ..parallel import available_cores


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Versions, extras, accelerators and the bundled "
                                            "model of this installation.", add_help=add_help)
    p.add_argument("--json", action="store_true", help="one JSON object")
    return p


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def extras() -> dict[str, dict[str, str | None]]:
    """extra -> {package: installed version or None}, from ferkit's own metadata."""
    found: dict[str, dict[str, str | None]] = {"core": {}}
    try:
        requirements = metadata.requires("ferkit") or []
    except metadata.PackageNotFoundError:  # run from a source tree, never pip-installed
        return {}
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        extra = re.search(r"""extra\s*==\s*["']([^"']+)""", requirement)
        found.setdefault(extra.group(1) if extra else "core", {})[name] = version(name)
    return found


def accelerators() -> dict:
    import onnxruntime as ort

    out = {"onnxruntime": ort.__version__, "providers": ort.get_available_providers()}
    if version("torch"):
        import torch  # the train extra: only here, where its GPU is the question

        out["torch"] = torch.__version__
        out["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return out


# Instructions that multiply 8-bit integers and sum them into 32 bits in one step: with them
# int8 convolutions run ~2x the speed of fp32 ones in ONNX Runtime; without them (plain AVX2)
# ~1.4x (docs/MODEL_CARD.md, "int8"). NumPy's names for them.
INT8_DOT_PRODUCT = ("AVX512VNNI", "AVXVNNI", "ASIMDDP")


def cpu() -> dict:
    """The CPU's name and cores, and which vector instructions it has, as NumPy's own runtime
    detection found them (no extra package, any OS)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as features
    has = {name for name, present in features.items() if present}
    return {"name": cpu_name(), "cores": os.cpu_count(), "usable_cores": available_cores(),
            "avx2": "AVX2" in has, "avx512": "AVX512F" in has,
            "int8_dot_product": next((n for n in INT8_DOT_PRODUCT if n in has), None)}


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def int8_advice(chip: dict) -> str:
    """What the default int8 model gains over `--model fp32` on this CPU."""
    if chip["int8_dot_product"]:
        return (f"{chip['int8_dot_product']}: int8 dot products in one instruction, where "
                "the default int8 model gains most (~2x the faces/s of fp32 on an AVX-512 "
                "VNNI VM)")
    return ("no VNNI or dot-product instructions: the default int8 model gains less over "
            "fp32 here (~1.4x the faces/s on an AVX2 VM)")


def bundled() -> dict:
    """Each bundled model ("int8", "fp32"): its file, whether it is the default, and whether
    it is the pinned one."""
    from ..recognition.recognizer import BUNDLED, DEFAULT_MODEL

    models = {}
    for name, (path, pinned, card) in BUNDLED.items():
        model = {"path": str(path), "default": name == DEFAULT_MODEL, "present": path.is_file()}
        if model["present"]:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            model.update(sha256_as_pinned=digest == pinned, **card)
        models[name] = model
    return models


def collect() -> dict:
    return {"ferkit": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu(),
            "extras": extras(), **accelerators(), "bundled_models": bundled()}


def main(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"ferkit {info['ferkit']}, Python {info['python']}, {info['platform']}, "
          f"{info['cpus']} CPU(s)")
    chip = info["cpu"]
    vector = ", ".join(n for n, on in (("AVX2", chip["avx2"]), ("AVX-512", chip["avx512"])) if on)
    usable = "" if chip["usable_cores"] == chip["cores"] else f" ({chip['usable_cores']} usable)"
    print(f"CPU: {chip['name']}, {chip['cores']} core(s){usable}"
          + (f", {vector}" if vector else "") + f"; {int8_advice(chip)}")
    print(f"ONNX Runtime {info['onnxruntime']}: {', '.join(info['providers'])}")
    if "torch" in info:
        print(f"PyTorch {info['torch']}: {info['cuda'] or 'no CUDA GPU'}")
    if not info["extras"]:
        print("extras: unknown (ferkit runs from a source tree: pip install -e . to see them)")
    for extra, packages in info["extras"].items():
        listed = ", ".join(f"{p} {v}" if v else f"{p} MISSING" for p, v in packages.items())
        print(f"{extra + ':':10s}{listed}")
    for name, model in info["bundled_models"].items():
        state = ("missing" if not model["present"] else "as pinned"
                 if model["sha256_as_pinned"] else "DIFFERS from the pinned SHA-256")
        print(f"bundled model {name}{' (the default)' if model['default'] else ''}: "
              f"{model['path']} ({state})")
    return 0
