"""Task queues: one interface, a durable local queue and a Cloud Tasks adapter, and the answer contract."""

from shared.queue.base import Task, TaskQueue, task_id
from shared.queue.outcome import Outcome, done, not_yet

__all__ = ["Outcome", "Task", "TaskQueue", "done", "not_yet", "task_id"]
