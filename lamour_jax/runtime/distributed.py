"""Several processes (hosts) training one program: `jax.distributed.initialize()` and who writes.

Every process runs the same script; after `initialize` `jax.devices()` lists the devices of
all of them, the trainer's mesh spans them and each process steps the envs of its own
devices (the env batch is sharded along the mesh axis, parameters are replicated). Orbax
saves and restores collectively (all processes call it, each writes its shards). Files that
are not checkpoints (config.json, metrics.jsonl, policy.json) and the progress bar belong to
process 0 alone.
"""

from __future__ import annotations

import jax


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """Join a multi-process run. With no arguments JAX detects the cluster (SLURM, Open MPI,
    Cloud TPU, ...); otherwise all three are given, as on the `lamour` command line."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError("--coordinator, --num-processes and --process-id go together "
                         "(or give none of them and let JAX detect the cluster)")
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"--process-id {process_id} must be in [0, {num_processes})")
    # CPU devices of different processes talk through gloo; GPUs and TPUs are not affected.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def is_primary() -> bool:
    """Whether this process writes the run's plain files and shows progress."""
    return jax.process_index() == 0
