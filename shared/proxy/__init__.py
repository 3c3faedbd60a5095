"""The inference proxy: callers reach their deployment's Runpod endpoint with their API key only.

routing (which deployment serves a request), jobs (Runpod jobs), completions (OpenAI-compatible calls
to a vLLM worker, streamed through sse), vllm_errors (vLLM's errors inside HTTP 200), upstream (the
runtime client with the tenant's key, and Runpod's faults as the caller's errors), model_list (/v1/models),
scale_up and waking (calls that wait for a worker of a scaled-to-zero deployment).
"""
