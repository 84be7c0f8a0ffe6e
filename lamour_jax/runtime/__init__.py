"""The host side of a run, around the pure learner: the run folder and its record (`run_dir`),
the period loop (`loop`), checkpoints, the folder lock, the stall watchdog, TensorBoard files,
learning curves, multi-process start-up, and `lamour runs` (`status`)."""
