"""What each image installs: its command resolves to a click command, and the worker and
manager extras pull in no web framework and no database driver, even transitively."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution
from pathlib import Path

import click
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FORBIDDEN = {"flask", "sqlalchemy", "psycopg2", "psycopg2-binary", "psycopg", "alembic"}
# What each image installs (see the EXTRAS build argument and docker-compose.yml).
IMAGES = {
    "webapi": ("webapi",),
    "manager": ("manager",),
    "worker": ("worker",),
    "manager-local": ("manager", "worker"),
}


def image_command(component: str) -> list[str]:
    text = (ROOT / "docker" / f"{component}.Dockerfile").read_text()
    [command] = re.findall(r"^CMD (.+)$", text, flags=re.MULTILINE)
    parsed: list[str] = json.loads(command)
    return parsed


def closure(requirements: list[str], extras: tuple[str, ...] = ()) -> set[str]:
    """Every distribution the requirements install, following installed metadata."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(Requirement(text), extras) for text in requirements]
    while todo:
        requirement, active = todo.pop()
        environments = [{"extra": extra} for extra in active] or [{"extra": ""}]
        if requirement.marker and not any(requirement.marker.evaluate(e) for e in environments):
            continue
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        found.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue  # not installed here: its own requirements cannot be followed
        todo.extend((Requirement(text), tuple(requirement.extras)) for text in requires)
    return found


def image_requirements(extras: tuple[str, ...]) -> set[str]:
    project = PYPROJECT["project"]
    direct = list(project["dependencies"])
    for extra in extras:
        direct += project["optional-dependencies"][extra]
    return closure(direct)


@pytest.mark.parametrize("component", ["webapi", "manager", "worker"])
def test_each_images_command_is_a_shoal_click_command(component: str) -> None:
    assert PYPROJECT["project"]["scripts"]["shoal"] == "shoal_cli.main:main"
    [name] = image_command(component)
    value = PYPROJECT["project"]["entry-points"]["shoal.commands"][name]
    command = EntryPoint(name, value, "shoal.commands").load()
    assert isinstance(command, click.Command)
    assert value.split(".")[0] == component  # each image runs its own component


@pytest.mark.parametrize("image", ["manager", "worker", "manager-local"])
def test_worker_and_manager_images_carry_no_web_or_database_packages(image: str) -> None:
    installed = image_requirements(IMAGES[image])
    assert "boto3" in installed and "httpx" in installed
    assert not installed & FORBIDDEN, installed & FORBIDDEN
    assert not {name for name in installed if name.startswith("flask")}


def test_the_webapi_image_has_what_it_needs() -> None:
    """The same resolution finds the web API's stack, so the test above can fail."""
    installed = image_requirements(IMAGES["webapi"])
    assert {"flask", "sqlalchemy", "psycopg2-binary", "alembic", "gunicorn"} <= installed
    assert "werkzeug" in installed  # a transitive one, through Flask


def test_the_client_commands_need_only_the_base_install() -> None:
    base = image_requirements(())
    assert {"click", "rich", "httpx"} <= base
    assert not base & (FORBIDDEN | {"boto3"})


def test_the_build_backend_understands_the_license_expression() -> None:
    """``license = "MIT"`` (an SPDX expression, PEP 639) needs setuptools 77 or later:
    an older one, which an image build may well pick, fails to build the wheel."""
    assert isinstance(PYPROJECT["project"]["license"], str)
    [setuptools] = [
        Requirement(text)
        for text in PYPROJECT["build-system"]["requires"]
        if canonicalize_name(Requirement(text).name) == "setuptools"
    ]
    assert "76.9" not in setuptools.specifier
    assert "77.0" in setuptools.specifier
