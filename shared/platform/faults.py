"""The one type for failures the product meets outside itself: Runpod, the Hub, GPU selection.

A `Fault` says what a deployment shows when it fails of it (`code`, one of the stable error codes),
why (`message`, safe to show the user), whether trying again later can help (`transient`) and how
long the upstream asked us to wait (`retry_after`, seconds). The step runner turns it into a retry
or a failure in one place (`StepContext.handle_fault`); everything else that raises is a bug, logged
with its traceback and failed as `internal_error`.
"""

from __future__ import annotations


class Fault(Exception):
    def __init__(self, code: str, message: str, *, transient: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.code, self.message, self.transient, self.retry_after = code, message, transient, retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, transient={self.transient})"
