"""`ferkit info`: what a bug report needs, read from the installation itself."""

import json
import tomllib
from pathlib import Path

from conftest import ROOT, ferkit
from packaging.utils import canonicalize_name

from ferkit.commands import info
from ferkit.recognition.recognizer import BUNDLED_FP32, BUNDLED_INT8


def test_info_lists_every_extra_its_packages_and_the_runtime():
    r = ferkit("info", "--json")
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(found["extras"]) == {"core", *declared["optional-dependencies"]}
    for extra, requirements in {"core": declared["dependencies"],
                                **declared["optional-dependencies"]}.items():
        names = {canonicalize_name(r.split(";")[0].split(">")[0].split("[")[0])
                 for r in requirements}
        assert {canonicalize_name(p) for p in found["extras"][extra]} == names, extra
    assert found["extras"]["core"]["onnxruntime"] == found["onnxruntime"]
    assert "CPUExecutionProvider" in found["providers"]
    models = found["bundled_models"]
    assert set(models) == {"int8", "fp32"}
    assert (models["int8"]["default"], models["fp32"]["default"]) == (True, False)
    assert models["int8"].get("sha256_as_pinned") is (True if BUNDLED_INT8.is_file() else None)
    assert models["fp32"].get("sha256_as_pinned") is (True if BUNDLED_FP32.is_file() else None)
    assert models["int8"]["path"].endswith("_int8.onnx")


def test_a_missing_package_is_named_in_its_extra(monkeypatch, capsys):
    real = info.version
    monkeypatch.setattr(info, "version", lambda p: None if p == "fastapi" else real(p))
    assert info.main(info.get_args_parser().parse_args([])) == 0
    lines = capsys.readouterr().out.splitlines()
    serve = next(line for line in lines if line.startswith("serve:"))
    assert "fastapi MISSING" in serve and "uvicorn " in serve
    assert lines[0].startswith("ferkit ") and any("ONNX Runtime" in x for x in lines)


def test_the_cpu_and_its_int8_instructions():
    chip = info.cpu()
    assert chip["name"] and chip["cores"] >= 1 and 1 <= chip["usable_cores"] <= chip["cores"]
    assert chip["int8_dot_product"] in (None, *info.INT8_DOT_PRODUCT)
    flags = Path("/proc/cpuinfo")
    if flags.is_file():  # the kernel's own view agrees
        text = flags.read_text()
        assert chip["avx2"] == (" avx2" in text)
        if " avx512_vnni" in text:
            assert chip["int8_dot_product"] == "AVX512VNNI"
    advice = info.int8_advice(chip)
    assert ("gains most" in advice) == bool(chip["int8_dot_product"])
    r = ferkit("info")
    assert r.returncode == 0, r.stderr
    assert f"CPU: {chip['name']}, {chip['cores']} core(s)" in r.stdout and advice in r.stdout
