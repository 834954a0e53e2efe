"""The ``s1mmalign`` command line: one module per subcommand, and :mod:`.cli` (``main``)."""
