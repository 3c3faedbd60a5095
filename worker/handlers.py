"""Jobs: a Runpod job's `input` becomes a call to the loaded pipeline; the output is JSON.

Text-to-image (diffusers): `{"prompt", "negative_prompt"?, "num_inference_steps"?, "guidance_scale"?,
"width"?, "height"?, "seed"?, "num_images"?}` → `{"images": [base64 PNG], "image_format": "png",
"parameters": {every generation parameter used, the seed included}, "model", "timings"}`.

transformers pipelines: `{"inputs", "parameters"?}` (the Hugging Face Inference API's shape) →
`{"output", "model", "task", "timings"}`.

A bad input is answered `{"error": ...}`, which the Runpod SDK turns into a FAILED job.
"""

from __future__ import annotations

import base64
import inspect
import io
import secrets
import time
from collections.abc import Callable
from typing import Any

from worker.loaders import LoadedModel

Job = dict[str, Any]
MAX_PROMPT_CHARS = 4000
MAX_IMAGES = 4
FAST_MODELS = ("turbo", "schnell", "lightning", "lcm")  # distilled: few steps, no classifier-free guidance
IMAGE_KEYS = frozenset(
    {"prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "width", "height", "seed", "num_images"}
)


class InputError(Exception):
    """The job's input is invalid; the message says how."""


def make_handler(model: LoadedModel) -> Callable[[Job], dict[str, Any]]:
    run = text_to_image if model.library == "diffusers" else run_transformers

    def handler(job: Job) -> dict[str, Any]:
        job_input = job.get("input")
        if not isinstance(job_input, dict):
            return {"error": "input must be a JSON object"}
        try:
            return run(model, job_input)
        except InputError as exc:
            return {"error": str(exc)}
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":
                _free_gpu_memory()
                return {"error": "out of GPU memory: ask for fewer or smaller images"}
            raise

    return handler


# ---- text to image ----------------------------------------------------------------------------


def text_to_image(model: LoadedModel, job_input: dict[str, Any]) -> dict[str, Any]:
    import torch

    unknown = sorted(set(job_input) - IMAGE_KEYS)
    if unknown:
        raise InputError(f"unknown input field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(IMAGE_KEYS))}")
    pipe = model.pipeline
    accepted = _call_parameters(pipe)
    params = image_parameters(job_input, model.model_id, accepted)
    seed = params.pop("seed")
    generator = torch.Generator(device="cpu" if model.device == "mps" else model.device).manual_seed(seed)
    started = time.monotonic()
    with torch.inference_mode():
        result = pipe(**params, generator=generator)
    elapsed = time.monotonic() - started
    images = list(result.images)
    used = {**{k: v for k, v in _defaults(accepted).items() if k not in params}, **params, "seed": seed}
    used["width"], used["height"] = images[0].size if images else (used.get("width"), used.get("height"))
    used.pop("num_images_per_prompt", None)
    used["num_images"] = len(images)
    return {
        "images": [png_base64(image) for image in images],
        "image_format": "png",
        "parameters": used,
        "model": model.model_id,
        "timings": {"inference_seconds": round(elapsed, 3)},
    }


def image_parameters(job_input: dict[str, Any], model_id: str, accepted: dict[str, Any]) -> dict[str, Any]:
    """Validated keyword arguments for the pipeline call (plus `seed`); only what the pipeline takes."""
    prompt = job_input.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt is required: a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    params: dict[str, Any] = {"prompt": prompt}
    if (negative := job_input.get("negative_prompt")) is not None:
        if not isinstance(negative, str):
            raise InputError("negative_prompt must be a string")
        params["negative_prompt"] = negative
    fast = any(word in model_id.lower() for word in FAST_MODELS)
    steps = _int(job_input, "num_inference_steps", 1, 150, 4 if fast else None)
    guidance = _number(job_input, "guidance_scale", 0.0, 30.0, 0.0 if fast else None)
    if steps is not None:
        params["num_inference_steps"] = steps
    if guidance is not None:
        params["guidance_scale"] = guidance
    for side in ("width", "height"):
        value = _int(job_input, side, 16, 2048, None)
        if value is not None:
            if value % 8:
                raise InputError(f"{side} must be a multiple of 8")
            params[side] = value
    count = _int(job_input, "num_images", 1, MAX_IMAGES, 1)
    params["num_images_per_prompt"] = count
    seed = _int(job_input, "seed", 0, 2**32 - 1, None)
    params["seed"] = seed if seed is not None else secrets.randbelow(2**31)
    for name in list(params):
        if name == "seed" or not accepted or name in accepted:
            continue
        if name in job_input:
            raise InputError(f"{name} is not supported by this model's pipeline")
        params.pop(name)  # a default of ours the pipeline does not take
    return params


def png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _call_parameters(pipe: Any) -> dict[str, Any]:
    try:
        return dict(inspect.signature(pipe.__call__).parameters)
    except (TypeError, ValueError):
        return {}


def _defaults(accepted: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's own defaults for the parameters a caller may leave out (reported as used)."""
    names = ("num_inference_steps", "guidance_scale", "negative_prompt")
    out = {}
    for name in names:
        param = accepted.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            out[name] = param.default
    return out


def _int(job_input: dict[str, Any], name: str, low: int, high: int, default: int | None) -> int | None:
    value = job_input.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer")
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}")
    return value


def _number(job_input: dict[str, Any], name: str, low: float, high: float, default: float | None) -> float | None:
    value = job_input.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number")
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}")
    return float(value)


def _free_gpu_memory() -> None:
    try:
        import torch

        torch.cuda.empty_cache()
    except Exception:
        pass


# ---- transformers pipelines -------------------------------------------------------------------


def run_transformers(model: LoadedModel, job_input: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(job_input) - {"inputs", "parameters"})
    if unknown:
        raise InputError(f"unknown input field(s) {', '.join(unknown)}; accepted: inputs, parameters")
    inputs = job_input.get("inputs")
    if inputs is None or inputs == "" or inputs == []:
        raise InputError("inputs is required")
    parameters = job_input.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InputError("parameters must be an object")
    started = time.monotonic()
    try:
        result = model.pipeline(inputs, **parameters)
    except (TypeError, ValueError) as exc:  # transformers' own checks of inputs and parameters
        raise InputError(f"{type(exc).__name__}: {exc}") from None
    return {
        "output": jsonable(result),
        "model": model.model_id,
        "task": model.task,
        "timings": {"inference_seconds": round(time.monotonic() - started, 3)},
    }


def jsonable(value: Any) -> Any:
    """Pipeline results as JSON: arrays and tensors to lists, numpy scalars to numbers, images to PNG."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "save") and hasattr(value, "size") and hasattr(value, "mode"):  # a PIL image
        return {"image": png_base64(value), "image_format": "png"}
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        detached = value.detach().cpu() if hasattr(value, "detach") else value
        return jsonable(detached.tolist())
    return str(value)
