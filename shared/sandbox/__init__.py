"""The sandbox: a simulated Runpod built into the product (Runpod key `sandbox`).

An in-process `httpx` transport (transport.py) answers the Runpod REST v2 and runtime routes the
product's clients call, so every other code path (steps, state machine, proxy, webhooks) is the real one.
Its state lives in the product's DocumentStore, its simulated worker reports through the real HTTP
callback via the TaskQueue (worker_ticks.py), and its workers' phases are a pure function of time
(phases.py).
"""
