"""Sources: papers (arXiv LaTeX, JATS XML) and the published release, read into figure records."""
