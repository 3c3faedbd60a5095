"""The deployment steps, one module per stage; `shared.deploy.step_table` names them for the runner.

Each step runs as a task, claims the deployment, acts, then moves it on. A `Fault` (Runpod, the Hub,
GPU selection) that a step lets through is turned into a retry or a failure by the step runner
(`StepContext.handle_fault`); steps catch one only for their own behaviour: wait_ready polls again,
finalize and cleanup end their step instead of failing it.
"""
