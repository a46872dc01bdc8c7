"""cnnspec: CNN architectures as YAML specs, analyzed exactly without building the model.

>>> import cnnspec
>>> graph = cnnspec.load("vgg16")
>>> cnnspec.analyze(graph).totals.params
138357544
"""
from .analysis import Analysis, analyze
from .errors import Loc, SpecError
from .graph import Graph, load
from .spec import load_spec, parse_spec


def build(spec, **options):
    """A spec path, built-in name or Graph -> torch.nn.Module (see cnnspec.torch.build.build for options).

    Imports torch only when called, so the analyzer works without it.
    """
    try:
        from .torch.build import build as build_model
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "torch":
            raise ModuleNotFoundError("cnnspec.build needs PyTorch: pip install cnnspec[torch]",
                                      name=error.name) from error
        raise
    return build_model(spec, **options)


__all__ = ["Analysis", "Graph", "Loc", "SpecError", "analyze", "build", "load", "load_spec", "parse_spec"]
__version__ = "0.1.0"
