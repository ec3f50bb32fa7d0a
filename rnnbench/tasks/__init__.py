"""Task registry: the one place that maps a task name to its class.

task = make_task("copy", seq_len=100, variable_delay=True)
batch = task.sample(rng, batch_size, dtype)       # Batch(x (T, B, I), target)
loss, dy = task.loss(y, batch)                    # y (S, B, O), S = T ("all") or 1 ("last")
"""

from __future__ import annotations

import inspect

from rnnbench.tasks.adding import AddingTask
from rnnbench.tasks.base import Batch, Task
from rnnbench.tasks.copy import CopyTask
from rnnbench.tasks.digits import DigitsTask
from rnnbench.tasks.embedded_reber import EmbeddedReberTask
from rnnbench.tasks.mackey_glass import MackeyGlassTask
from rnnbench.tasks.mnist import MNISTTask
from rnnbench.tasks.multiplication import MultiplicationTask
from rnnbench.tasks.selective_copy import SelectiveCopyTask
from rnnbench.tasks.temporal_order import TemporalOrderTask

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        CopyTask,
        AddingTask,
        TemporalOrderTask,
        MultiplicationTask,
        EmbeddedReberTask,
        SelectiveCopyTask,
        DigitsTask,
        MNISTTask,
        MackeyGlassTask,
    )
}


def task_options(name: str) -> tuple[str, ...]:
    """The keyword arguments task `name` accepts (seq_len and its options)."""
    cls = TASKS[name]
    return tuple(p for p in inspect.signature(cls.__init__).parameters if p != "self")


def make_task(name: str, /, **options) -> Task:
    """Build a registered task; unknown names and options raise ValueError naming the key."""
    if name not in TASKS:
        raise ValueError(f"task.name must be one of {sorted(TASKS)}, got {name!r}")
    allowed = task_options(name)
    for key in options:
        if key not in allowed:
            raise ValueError(
                f"task.{key} is not an option of task {name!r}; allowed: {', '.join(allowed)}"
            )
    return TASKS[name](**options)


__all__ = [
    "TASKS",
    "AddingTask",
    "Batch",
    "CopyTask",
    "DigitsTask",
    "EmbeddedReberTask",
    "MNISTTask",
    "MackeyGlassTask",
    "MultiplicationTask",
    "SelectiveCopyTask",
    "Task",
    "TemporalOrderTask",
    "make_task",
    "task_options",
]
