"""Stages: ``stage(batch, rejects) -> batch`` steps between a source and the writers (filters, dedup,
modality, recaption, scoring)."""
