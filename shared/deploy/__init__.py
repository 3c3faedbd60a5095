"""Deployments: records, states, the step engine and steps, create/view/delete, desired workers
(scaling), health, logs, worker reports, notifications, the reconciler."""
