"""What a package index and a fresh clone see: licence, project URLs, the wheel's contents, README
links that work off GitHub, and the specs link documented."""
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
REPOSITORY = "https://github.com/cnnspec/cnnspec"
RAW = "https://raw.githubusercontent.com/cnnspec/cnnspec/main/"
BLOB = f"{REPOSITORY}/blob/main/"


def test_licence_and_urls():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert project["urls"]["Repository"] == REPOSITORY


def test_readme_links_and_images_are_absolute_and_point_at_files_of_the_repository():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r'src="([^"]+)"', readme)
    assert len(targets) > 10
    for target in targets:
        if target.startswith("#"):
            continue
        assert target.startswith("https://"), f"{target}: relative links break on a package index"
        for prefix in (RAW, BLOB):
            if target.startswith(prefix):
                assert (ROOT / target.removeprefix(prefix)).is_file(), f"{target}: no such file in the repository"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme) + re.findall(r'src="([^"]+)"', readme)
    assert images and all(image.startswith(RAW) for image in images)


def test_the_specs_link_is_the_package_data_and_is_documented():
    if not (ROOT / "specs").is_symlink():
        pytest.skip("a clone without symlinks (see the README)")
    assert (ROOT / "specs").resolve() == (ROOT / "cnnspec" / "specs").resolve()
    assert "core.symlinks=true" in (ROOT / "README.md").read_text()


def test_the_wheel_has_the_specs_the_licence_and_py_typed(tmp_path):
    pytest.importorskip("setuptools", minversion="77")  # the build backend pyproject names
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "cnnspec", source / "cnnspec", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    wheel, = tmp_path.glob("cnnspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    specs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "cnnspec" / "specs").rglob("*.yaml"))
    assert specs and set(specs) <= set(names)
    assert "cnnspec/py.typed" in names and any(n.endswith("licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert f"Project-URL: Repository, {REPOSITORY}" in metadata and "License-Expression: MIT" in metadata
