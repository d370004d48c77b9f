"""The wheel ships the templates, static files, migrations and py.typed under jobs_ui/."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from django.test import SimpleTestCase

ROOT = Path(__file__).resolve().parent.parent


def _repo_files(folder: str) -> set[str]:
    base = ROOT / folder
    return {
        f"jobs_ui/{folder}/{path.relative_to(base).as_posix()}"
        for path in base.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


# Building the wheel starts an isolated build environment, which takes a while.
@pytest.mark.timeout(600)
class WheelContentsTests(SimpleTestCase):
    names: set[str]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        with tempfile.TemporaryDirectory() as outdir:
            completed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "build",
                    "--wheel",
                    "--outdir",
                    outdir,
                    str(ROOT),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if completed.returncode != 0:
                raise AssertionError(f"Building the wheel failed:\n{completed.stdout}\n{completed.stderr}")
            (wheel,) = Path(outdir).glob("*.whl")
            with zipfile.ZipFile(wheel) as archive:
                cls.names = set(archive.namelist())

    def test_templates_all_shipped(self):
        expected = _repo_files("templates")
        assert any(name.startswith("jobs_ui/templates/jobs_ui/") for name in expected), (
            "no file under templates/jobs_ui/"
        )
        assert expected <= self.names, sorted(expected - self.names)

    def test_static_all_shipped(self):
        expected = _repo_files("static")
        assert any(name.startswith("jobs_ui/static/jobs_ui/") for name in expected), "no file under static/jobs_ui/"
        assert expected <= self.names, sorted(expected - self.names)

    def test_py_typed_shipped(self):
        assert "jobs_ui/py.typed" in self.names

    def test_initial_migration_shipped(self):
        assert "jobs_ui/migrations/0001_initial.py" in self.names

    def test_tests_and_demo_not_shipped(self):
        assert not any(name.startswith(("tests/", "demo/")) for name in self.names)
