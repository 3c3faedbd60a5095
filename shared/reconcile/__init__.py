"""The reconciler: the backstop that re-drives unfinished deployments, applies drifted workers,
rescues lost announcements and sweeps this install's leftover Runpod endpoints."""
