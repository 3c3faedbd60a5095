"""Deployments: records, states, the step engine and steps, lifecycle, logs, notifications, the reconciler."""
