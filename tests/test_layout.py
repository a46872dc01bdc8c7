"""The package's boundary: only cnnspec/torch/ imports PyTorch at module level, so the analyzer starts
without it. Checked two ways: by reading every module's top-level statements, and by importing every
analyzer module in a Python that cannot import torch."""
import ast
import subprocess
import sys
from pathlib import Path

from tests.torch.test_build import blocking_env

PACKAGE = Path(__file__).parent.parent / "cnnspec"
TORCH_PACKAGES = ("torch", "fvcore", "onnx", "safetensors")


def analyzer_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "torch" not in p.relative_to(PACKAGE).parts[:-1])


def module_level_imports(path: Path) -> list[str]:
    """Packages imported by statements that run on import (not inside a function or class body, nor
    under ``if TYPE_CHECKING:``, which only type checkers read)."""
    found, stack = [], list(ast.parse(path.read_text()).body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append(node.module or "")
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack += node.orelse
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            stack += [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
    return found


def test_no_module_outside_the_torch_folder_imports_torch_at_module_level():
    offenders = {str(p.relative_to(PACKAGE)): name for p in analyzer_modules() for name in module_level_imports(p)
                 if name.split(".")[0] in TORCH_PACKAGES}
    assert not offenders, offenders
    assert len(analyzer_modules()) > 20  # the walk saw the package


def test_every_analyzer_module_imports_with_torch_blocked(tmp_path):
    names = [".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts) for p in analyzer_modules()]
    names = [n.removesuffix(".__init__") for n in names if not n.endswith("__main__")]
    script = ("import importlib, sys\n"
              f"for name in {names!r}:\n    importlib.import_module(name)\n"
              "assert 'torch' not in sys.modules\nprint(len(sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=blocking_env(tmp_path, *TORCH_PACKAGES), timeout=120)
    assert result.returncode == 0, result.stderr
