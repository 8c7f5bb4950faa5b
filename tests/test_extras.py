"""A command whose optional extra is missing says which one to install, before any work."""
import tomllib
import types
from importlib.metadata import packages_distributions

import pytest
from conftest import ROOT, assert_user_error, ferkit_without
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ferkit import cli
from ferkit.extras import EXTRAS
from ferkit.recognition.recognizer import bundled_model


def test_evaluate_without_scikit_learn_names_the_evaluate_extra(tiny_data, tmp_path):
    r = ferkit_without("sklearn", "evaluate", "--data", str(tiny_data / "test"),
                       "--output-dir", str(tmp_path / "out"))
    assert_user_error(r, "`ferkit evaluate` needs scikit-learn: pip install 'ferkit[evaluate]'")
    assert not (tmp_path / "out").exists()  # it stopped before classifying anything


def test_calibrate_without_onnx_names_the_evaluate_extra(tiny_data, tmp_path):
    r = ferkit_without("onnx", "calibrate", "--model", str(bundled_model()), "--data",
                       str(tiny_data / "test"), "--output", str(tmp_path / "c.onnx"))
    assert_user_error(r, "`ferkit calibrate` needs onnx: pip install 'ferkit[evaluate]'")


def test_export_int8_without_sympy_and_export_without_torch_name_their_extras(tiny_data,
                                                                             tmp_path):
    out = str(tmp_path / "q.onnx")
    r = ferkit_without("sympy", "export", "--model", str(bundled_model()), "--output", out,
                       "--int8", str(tiny_data / "train"))
    assert_user_error(r, "`ferkit export --int8` needs sympy: pip install 'ferkit[evaluate]'")
    r = ferkit_without("torch", "export", "--model", str(tmp_path / "best_model.pth"),
                       "--output", out)
    assert_user_error(r, "`ferkit export` needs torch: pip install 'ferkit[train]'")


def test_train_and_video_without_their_extras_name_them(tiny_data):
    r = ferkit_without("torch", "train", "--data", str(tiny_data))
    assert_user_error(r, "`ferkit train` needs torch: pip install 'ferkit[train]'")
    r = ferkit_without("cv2", "video", "clip.mp4")
    assert_user_error(r, "`ferkit video` needs OpenCV: pip install 'ferkit[video]'")


def test_a_missing_extra_met_mid_run_is_one_line_and_other_import_errors_stay_bugs(capsys):
    def needs(name):
        def main(args):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return types.SimpleNamespace(main=main)

    assert cli._call("video", needs("matplotlib.pyplot"), None) == 2
    assert capsys.readouterr().err == (
        "error: `ferkit video` needs matplotlib: pip install 'ferkit[video]'\n")
    with pytest.raises(ModuleNotFoundError):
        cli._call("evaluate", needs("ferkit.no_such_module"), None)


def test_every_extra_named_in_an_error_declares_the_module_it_is_named_for():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    declared = {extra: {canonicalize_name(Requirement(r).name) for r in reqs}
                for extra, reqs in extras.items()}
    installed = packages_distributions()
    checked = 0
    for module, extra in EXTRAS.items():
        if module not in installed:
            continue  # an extra this environment lacks
        assert {canonicalize_name(d) for d in installed[module]} & declared[extra], (
            module, extra)
        checked += 1
    assert checked >= len(EXTRAS) // 2, f"only {checked} of the modules are installed"
