"""Runners decide where each (stage, unit) runs; :class:`s1mmalign.builder.pipeline.build.Build` runs it.

``local``: one process, stage after stage, units in order. ``ray``: Ray Data ``map_batches``
over the pending units of each stage (CPU stages as tasks, model stages as actor pools).
"""


def get_runner(name: str):
    if name == "local":
        from s1mmalign.builder.pipeline.runners.local import run_local

        return run_local
    if name == "ray":
        from s1mmalign.builder.pipeline.runners.ray_runner import run_ray

        return run_ray
    raise ValueError(f"unknown runner {name!r}; use local or ray")
