"""A collapsed row's parameters are those of the PyTorch submodule of the same name."""
import cnnspec
from cnnspec.collapse import collapse


def test_collapsed_rows_count_what_the_built_submodules_hold():
    graph = cnnspec.load("resnet50")
    model = cnnspec.build(graph, device="meta")
    for depth in (0, 1):
        for row in collapse(cnnspec.analyze(graph), depth).rows[1:]:
            module = model.get_submodule(row.name)
            assert row.params == sum(p.numel() for p in module.parameters()), (depth, row.name)
            assert row.buffers == sum(b.numel() for b in module.buffers()), (depth, row.name)
