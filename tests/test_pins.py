"""pyproject.toml and environment.yml pin the same exact versions; the record lists them."""

import re
import tomllib

import yaml

from hmpo.pipeline.environment import environment_record

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def _pyproject_pins(repo_root):
    data = tomllib.loads((repo_root / "pyproject.toml").read_text())
    project = data["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return reqs, project["optional-dependencies"]


def test_every_requirement_is_an_exact_pin(repo_root):
    reqs, extras = _pyproject_pins(repo_root)
    for extra in extras.values():
        reqs = reqs + list(extra)
    for r in reqs:
        assert PIN.match(r), f"not an exact pin: {r}"


def test_environment_yml_matches_pyproject(repo_root):
    reqs, _ = _pyproject_pins(repo_root)
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(reqs)


def test_installed_versions_match_the_pins(repo_root):
    reqs, _ = _pyproject_pins(repo_root)
    packages = environment_record()["packages"]
    for r in reqs:
        name, version = PIN.match(r).groups()
        if name in packages:
            installed = packages[name]
            assert installed is not None and installed.split("+")[0] == version, (name, installed)
