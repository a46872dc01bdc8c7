"""Layer families; importing this package fills the registry."""
from . import activation, conv, linear, merge, norm, pool, reshape, resize  # noqa: F401
from .base import LAYERS, Layer, register

__all__ = ["LAYERS", "Layer", "register"]
