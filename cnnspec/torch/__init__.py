"""The torch side: build (graph -> nn.Module), its modules, export, verify, train and data.

Everything that imports PyTorch lives in this folder; the analyzer outside it never does, so
`cnnspec analyze` starts fast and works without torch installed.
"""
