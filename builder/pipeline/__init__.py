"""Orchestration: units of work, resume state, the build config, and the runners (local, Ray)."""
