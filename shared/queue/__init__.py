"""Task queues: one interface, a durable local queue and a Cloud Tasks adapter."""

from shared.queue.base import Task, TaskQueue, task_id

__all__ = ["Task", "TaskQueue", "task_id"]
