"""pixi.toml and pyproject.toml must declare the same packages; the Makefile drives CI."""

import re
import tomllib

from conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def _pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"inference": {_name(r): r for r in project["dependencies"]}}
    for extra, reqs in project["optional-dependencies"].items():
        groups[extra] = {_name(r): r for r in reqs}
    return groups


def _pixi():
    pixi = tomllib.loads((ROOT / "pixi.toml").read_text())
    groups = {"inference": dict(pixi["pypi-dependencies"])}
    groups["inference"].pop("ferkit")
    for feature, body in pixi["feature"].items():
        groups[feature] = dict(body.get("pypi-dependencies", {}))
    return pixi, groups


def _pixi_spec(value) -> str:
    """A pixi requirement as the text after the name in pyproject: '>=1.0' or '[extra]>=1.0'."""
    if isinstance(value, str):
        return value
    extras = f"[{','.join(value['extras'])}]" if value.get("extras") else ""
    return extras + value.get("version", "")


def test_pixi_and_pyproject_declare_the_same_packages_and_bounds():
    py = _pyproject()
    _, px = _pixi()
    assert set(py) == set(px)
    for group, reqs in py.items():
        assert set(reqs) == set(px[group]), f"{group}: {sorted(set(reqs) ^ set(px[group]))}"
        for name, req in reqs.items():
            spec = _pixi_spec(px[group][name])
            assert req[len(name):] == spec, f"{group}/{name}: {req} vs {spec}"


def test_inference_and_evaluate_profiles_have_no_torch():
    py = _pyproject()
    assert not {"torch", "torchvision"} & (set(py["inference"]) | set(py["evaluate"]))


def test_pixi_has_inference_and_train_environments_and_tasks():
    pixi, _ = _pixi()
    assert {"inference", "evaluate", "train"} <= set(pixi["environments"])
    assert "train" in pixi["environments"]["train"]["features"]
    tasks = {**pixi.get("tasks", {}), **pixi["feature"]["train"].get("tasks", {})}
    assert {"train", "predict", "test"} <= set(tasks)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme.split("\n## ")[0]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
