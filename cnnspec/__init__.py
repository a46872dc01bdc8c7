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

__all__ = ["Analysis", "Graph", "Loc", "SpecError", "analyze", "load", "load_spec", "parse_spec"]
__version__ = "0.1.0"
