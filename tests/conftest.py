import json
from pathlib import Path

import pytest

import cnnspec

REFERENCE = Path(__file__).parent / "data" / "reference"  # copied from the team's shared/reference


@pytest.fixture(scope="session")
def torchvision_reference() -> dict:
    return json.loads((REFERENCE / "torchvision.json").read_text())


def analyze_text(text: str, **kwargs):
    """Analyze a spec given as YAML text (tests write small specs inline)."""
    return cnnspec.analyze(cnnspec.graph.build_graph(cnnspec.parse_spec(text, "test.yaml")), **kwargs)


def pytest_addoption(parser):
    parser.addoption("--overwrite", action="store_true", default=False,
                     help="Rewrite golden files (tests/data/explain/golden) from what the code prints now.")


@pytest.fixture
def overwrite(request) -> bool:
    return request.config.getoption("--overwrite")
