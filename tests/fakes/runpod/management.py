"""The fake's REST v2 management API: endpoints, their workers and logs, the GPU catalog.

Requests are checked against the vendored spec first (`_check_management`); every endpoint belongs to
the Runpod account of the key that created it.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import string
import time
from typing import Any

from tests.fakes.base import Response
from tests.fakes.runpod.capacity import CapacitySim
from tests.fakes.runpod.spec import SpecRoute, request_schema_name, semantic_errors, spec_validator
from tests.fakes.runpod.state import DATA_CENTERS, now_iso, problem


class ManagementApi(CapacitySim):
    schema_error_status = 400  # the spec hints real schema failures may be 422; the brief asked for 400

    def _check_management(self, method: str, route: SpecRoute, body: Any) -> Response | None:
        """The request against its operation in the spec; a refusal is also recorded in `violations`."""
        operation = route.operations.get(method)
        if operation is None:
            allow = {"Allow": ", ".join(route.operations)}
            return self._violation(405, f"{method} {route.template}: method not in the spec", [], allow)
        schema = request_schema_name(operation)
        if schema is None:
            return None
        if body is None or isinstance(body, bytes):
            return self._violation(self.schema_error_status, f"{method} {route.template}: body must be JSON", [])
        errors = [
            f"{e.json_path}: {e.message}"
            for e in sorted(spec_validator(schema).iter_errors(body), key=lambda e: e.json_path)
        ]
        errors += semantic_errors(body, creating=method == "POST", schema=schema)
        if errors:
            return self._violation(self.schema_error_status, f"{method} {route.template} violates {schema}", errors)
        return None

    def _management(self, method: str, template: str, params: dict[str, str], body: Any) -> Response:
        handlers = {
            ("POST", "/v2/serverless"): self._create,
            ("GET", "/v2/serverless"): self._list,
            ("GET", "/v2/serverless/{id}"): self._get,
            ("PATCH", "/v2/serverless/{id}"): self._update,
            ("DELETE", "/v2/serverless/{id}"): self._delete,
            ("GET", "/v2/serverless/{id}/workers"): self._list_workers,
            ("GET", "/v2/serverless/{id}/workers/{workerId}/logs"): self._worker_logs,
            ("GET", "/v2/network-volumes"): self._list_volumes,
            ("POST", "/v2/network-volumes"): self._create_volume,
            ("PATCH", "/v2/network-volumes/{id}"): self._update_volume,
            ("DELETE", "/v2/network-volumes/{id}"): self._delete_volume,
            ("GET", "/v2/catalog/gpus"): self._list_gpus,
            ("GET", "/v2/catalog/gpus/{id}"): self._get_gpu,
        }
        handler = handlers.get((method, template))
        if handler is None:
            return self._violation(501, f"{method} {template}: in the spec but not simulated by FakeRunpod", [])
        if "id" in params and template.startswith("/v2/serverless/") and not self._visible(params["id"]):
            return problem(404, f"endpoint {params['id']} not found")
        return handler(params, body)

    def _create(self, params: dict[str, str], body: dict[str, Any]) -> Response:
        workers = {"min": 0, "max": 3, "idleTimeout": 10, **body.get("workers", {})}
        refusal = self._quota_refusal(None, workers["max"])
        if refusal is not None:
            return refusal
        endpoint_id = "ep" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))
        run = f"{self.base_url}/v2/{endpoint_id}"
        endpoint: dict[str, Any] = {
            "id": endpoint_id,
            "name": body["name"],
            "type": body["type"],
            "requestUrls": {
                "run": f"{run}/run",
                "runSync": f"{run}/runsync",
                "status": f"{run}/status/{{job_id}}",
                "stream": f"{run}/stream/{{job_id}}",
                "cancel": f"{run}/cancel/{{job_id}}",
                "retry": f"{run}/retry/{{job_id}}",
                "purgeQueue": f"{run}/purge-queue",
                "health": f"{run}/health",
            },
            "image": body.get("image", ""),
            "args": body.get("args", ""),
            "disk": body.get("disk", 20),
            "ports": body.get("ports", []),
            "env": body.get("env", {}),
            "registry": body.get("registry"),
            "gpu": _gpu_block(body["gpu"]) if "gpu" in body else None,
            "workers": workers,
            "scaling": body["scaling"],
            "dataCenterIds": body.get("dataCenterIds", []),
            "networkVolumes": body.get("networkVolumes", []),
            "timeout": body.get("timeout", 300000),
            "flashboot": body.get("flashboot", "OFF"),
            "createdAt": now_iso(),
        }
        if "cpu" in body:
            endpoint["cpu"] = body["cpu"]
        self.endpoints[endpoint_id] = endpoint
        self._endpoint_account[endpoint_id] = self._caller_account
        self.created.append(copy.deepcopy(endpoint))
        if workers["min"] >= 1:
            self._warm_since[endpoint_id] = time.monotonic()
        return Response(201, copy.deepcopy(endpoint))

    def _list(self, params: dict[str, str], body: Any) -> Response:
        mine = [e for i, e in self.endpoints.items() if self._visible(i)]
        return Response(200, {"endpoints": copy.deepcopy(mine)})

    def _get(self, params: dict[str, str], body: Any) -> Response:
        return Response(200, copy.deepcopy(self.endpoints[params["id"]]))

    def _update(self, params: dict[str, str], body: dict[str, Any]) -> Response:
        endpoint_id = params["id"]
        endpoint = self.endpoints[endpoint_id]
        workers = {**endpoint["workers"], **body.get("workers", {})}
        refusal = self._quota_refusal(endpoint_id, workers["max"])
        if refusal is not None:
            return refusal
        if workers["min"] > workers["max"]:
            return self._violation(400, f"PATCH /v2/serverless/{endpoint_id}: workers.min exceeds workers.max", [])
        endpoint.update({k: copy.deepcopy(v) for k, v in body.items() if k not in ("gpu", "workers")})
        if "gpu" in body:
            gpu = {**(endpoint.get("gpu") or {}), **body["gpu"]}
            if "pools" in body["gpu"] and "excludedTypes" not in body["gpu"]:
                gpu.pop("excludedTypes", None)  # known server quirk: new pools drop exclusions not sent again
            endpoint["gpu"] = _gpu_block(gpu)
        endpoint["workers"] = workers
        if workers["min"] < 1:
            self._cool(endpoint_id)
        else:
            self._warm_since.setdefault(endpoint_id, time.monotonic())
        return Response(200, copy.deepcopy(endpoint))

    def _delete(self, params: dict[str, str], body: Any) -> Response:
        endpoint_id = params["id"]
        del self.endpoints[endpoint_id]
        self._cool(endpoint_id)
        self.deleted.append(endpoint_id)
        return Response(204)

    def _quota_refusal(self, endpoint_id: str | None, new_max: int) -> Response | None:
        quota = self.max_workers_quota
        if quota is None:
            return None
        total = new_max + sum(e["workers"]["max"] for i, e in self.endpoints.items() if i != endpoint_id)
        if total > quota:
            return problem(400, f"Max workers across all endpoints exceeds your worker quota ({quota})")
        return None

    def _workers_of(self, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
        state = self.worker_state(endpoint["id"])
        if state == "none":
            return []
        gpu = endpoint.get("gpu") or {}
        pool = self.placed_pool(endpoint["id"]) or (gpu.get("pools") or [None])[0]
        gpu_type = next((g["id"] for g in self.gpus if g["pool"] == pool), None)
        return [
            {
                "id": f"{endpoint['id']}-w0",
                "status": state.upper(),
                "isStale": False,
                "version": 1,
                "gpuCount": gpu.get("count", 0),
                "image": endpoint["image"],
                "uptimeSeconds": 0,
                "gpuTypeId": gpu_type,
                "dataCenterId": "US-KS-2",
                "startedAt": endpoint["createdAt"],
            }
        ]

    def _list_workers(self, params: dict[str, str], body: Any) -> Response:
        workers = self._workers_of(self.endpoints[params["id"]])
        summary = {s: 0 for s in ("running", "idle", "initializing", "throttled", "unhealthy")}
        for w in workers:
            summary[w["status"].lower()] += 1
        return Response(200, {"workers": workers, "summary": {**summary, "total": len(workers)}, "endpointVersion": 1})

    def _worker_logs(self, params: dict[str, str], body: Any) -> Response:
        events = []
        for n, line in enumerate(("Worker starting.", "Worker ready.")):
            ts = now_iso()
            data = json.dumps({"ts": ts, "source": "container", "line": line})
            events.append(f"id: {ts}/{n:012d}\ndata: {data}\n\n")
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return Response(200, body="".join(events).encode(), headers=headers)

    # ---- network volumes (each belongs to the account of the key that created it) ----

    def _list_volumes(self, params: dict[str, str], body: Any) -> Response:
        mine = [v for v in self.volumes.values() if v["_account"] == self._caller_account]
        return Response(200, {"networkVolumes": [_public(v) for v in mine]})

    def _create_volume(self, params: dict[str, str], body: dict[str, Any]) -> Response:
        if body["dataCenter"] not in DATA_CENTERS:
            return problem(400, f"unknown data center {body['dataCenter']}")
        volume_id = "vol" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        volume = {"id": volume_id, "type": "STANDARD", **body, "_account": self._caller_account}
        self.volumes[volume_id] = volume
        self.volumes_created.append(_public(volume))
        return Response(201, _public(volume))

    def _own_volume(self, volume_id: str) -> dict[str, Any] | None:
        volume = self.volumes.get(volume_id)
        return volume if volume is not None and volume["_account"] == self._caller_account else None

    def _update_volume(self, params: dict[str, str], body: dict[str, Any]) -> Response:
        volume = self._own_volume(params["id"])
        if volume is None:
            return problem(404, f"network volume {params['id']} not found")
        if body.get("size", volume["size"]) < volume["size"]:
            return problem(400, "network volume storage cannot be reduced")
        volume.update(body)
        return Response(200, _public(volume))

    def _delete_volume(self, params: dict[str, str], body: Any) -> Response:
        if self._own_volume(params["id"]) is None:
            return problem(404, f"network volume {params['id']} not found")
        del self.volumes[params["id"]]
        self.volumes_deleted.append(params["id"])
        return Response(204)

    def _list_gpus(self, params: dict[str, str], body: Any) -> Response:
        refusal = self._catalog_query_refusal()
        if refusal is not None:
            return refusal
        return Response(200, {"gpus": [self._with_stock(g) for g in self.gpus]})

    def _get_gpu(self, params: dict[str, str], body: Any) -> Response:
        refusal = self._catalog_query_refusal()
        if refusal is not None:
            return refusal
        gpu = next((g for g in self.gpus if g["id"] == params["id"]), None)
        return Response(200, self._with_stock(gpu)) if gpu else problem(404, f"GPU type {params['id']} not found")

    def _catalog_query_refusal(self) -> Response | None:
        """The spec's rules: `product` with include=AVAILABILITY and only with it; the CUDA filters only with it."""
        q = self._query
        wants = q.get("include", "") == "AVAILABILITY"
        if "include" in q and not wants:
            return problem(400, f"include: unsupported value {q['include']!r}")
        if wants != ("product" in q):
            return problem(400, "product is required with include=AVAILABILITY, and valid only with it")
        if ("minCudaVersion" in q or "cudaVersions" in q) and not wants:
            return problem(400, "the CUDA filters are valid only with include=AVAILABILITY")
        if "minCudaVersion" in q and "cudaVersions" in q:
            return problem(400, "minCudaVersion and cudaVersions are mutually exclusive")
        if "minCudaVersion" in q and not re.fullmatch(r"\d+(\.\d+)?", q["minCudaVersion"]):
            return problem(422, f"minCudaVersion: malformed {q['minCudaVersion']!r}")
        return None

    def _with_stock(self, gpu: dict[str, Any]) -> dict[str, Any]:
        """A GPU type as listed; with include=AVAILABILITY, its pool's stock scoped by the CUDA floor."""
        listed = copy.deepcopy(gpu)
        if self._query.get("include") != "AVAILABILITY":
            return listed
        floor = _version(self._query.get("minCudaVersion", "0"))
        offered = self.pool_cuda_versions.get(gpu.get("pool") or "", self.cuda_versions)
        versions = [v for v in offered if _version(v) >= floor]
        by_dc = self.availability.get(gpu.get("pool") or "", dict.fromkeys(DATA_CENTERS, "HIGH"))
        by_dc = {dc: level if versions else "NONE" for dc, level in by_dc.items()}
        listing = [{"id": dc, "name": DATA_CENTERS.get(dc, dc), "availability": lv} for dc, lv in by_dc.items()]
        offered = [d for d in listing if d["availability"] != "NONE"]
        listed["availability"] = max((d["availability"] for d in offered), key=LEVELS.index, default="NONE")
        if offered:
            listed["dataCenters"] = offered
        listed["cudaVersions"] = [{"version": v, "available": bool(offered)} for v in versions]
        return listed


LEVELS = ["NONE", "LOW", "MEDIUM", "HIGH"]


def _public(volume: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in volume.items() if not k.startswith("_")}


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _gpu_block(gpu: dict[str, Any]) -> dict[str, Any]:
    return {"count": 1, "allowedCudaVersions": [], "minCudaVersion": None, **copy.deepcopy(gpu)}
