"""s1mmalign.core: the dataset contract and the pieces both sides share.

Imports nothing from ``s1mmalign.builder``, ``s1mmalign.loaders`` or ``s1mmalign_dataset``,
and not ``datasets`` at import time (checked by import-linter; see docs/DEVELOPING.md).
"""
