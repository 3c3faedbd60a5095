"""infra/ against the code: formatting, checkov, and that Terraform deploys exactly what the code has.

Nothing here reaches Google: `terraform fmt` and checkov run offline, and the HCL is parsed with
python-hcl2. The consistency checks fail when an entry point in main.py, a setting the code reads,
a secret or a Firestore index is missing from infra/ (or when infra/ names one the code lacks).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from pydantic import SecretStr

from functions.routes import ROUTES
from shared.platform.settings import Settings
from shared.store.firestore import COMPOSITE_INDEXES

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"

# Settings that are deliberately not set by infra/, and why. A new setting fails the test until it
# is either deployed (locals.tf common_env or secrets) or listed here.
NOT_DEPLOYED = {
    "host": "local server only (Cloud Run passes PORT itself)",
    "port": "local server only (Cloud Run sets PORT)",
    "data_dir": "embedded SQLite backend only",
    "runpod_api_base": "the default is Runpod's production API",
    "runpod_runtime_base": "the default is Runpod's production API",
    "hf_endpoint": "the default is the Hugging Face Hub",
    "sandbox_time_scale": "the simulated workers' pace: the default suits every install",
    "sandbox_poll_interval_seconds": "the sandbox's health-poll pace: the default suits every install",
    "vllm_worker_image": "pinned in code with the release",
    "http_timeout_seconds": "tuning knob; the default suits production",
    "webhook_timeout_seconds": "tuning knob; the default suits production",
    "unhealthy_pause_seconds": "tuning knob; the default (10 min of crash-looping) suits production",
    "scale_up_timeout_seconds": "tuning knob; callers choose their own wait with X-Scale-Up-Timeout",
    "scale_up_timeout_max_seconds": "tuning knob; the default fits the inference function's 300 s timeout",
    "inference_timeout_seconds": "tuning knob; the default (280 s) fits the inference function's 300 s timeout",
    "step_lease_seconds": "tuning knob; the default suits production",
    "step_timeout_seconds": "tuning knob; the default suits production",
    "deploy_timeout_seconds": "tuning knob; the default suits production",
    "ready_poll_interval_seconds": "tuning knob; the default suits production",
    "placement_timeout_seconds": "tuning knob; the default (3 min) suits production",
    "placement_mode": "a fallback (price_only) an operator sets by hand; the default suits production",
    "update_drain_seconds": "tuning knob; the default suits production",
    "retry_base_seconds": "tuning knob; the default suits production",
    "retry_max_seconds": "tuning knob; the default suits production",
    "retry_jitter": "tuning knob; the default suits production",
    "retry_max_attempts": "tuning knob; the default suits production",
    "store_update_attempts": "tuning knob; the default suits production",
    "store_retry_base_seconds": "tuning knob; the default suits production",
    "store_retry_max_seconds": "tuning knob; the default suits production",
    "webhook_retry_schedule": "tuning knob; the default suits production",
    "cleanup_max_attempts": "tuning knob; the default suits production",
    "reconcile_interval_seconds": "embedded default only; Cloud Scheduler's cron (var.reconcile_schedule) on GCP",
    "orphan_grace_seconds": "tuning knob; the default (an hour) suits production",
    "reconcile_time_budget_seconds": "tuning knob; the default fits the reconcile function's timeout and schedule",
    "reconcile_max_accounts": "tuning knob; the default suits production",
    "queue_max_attempts": "local queue only; Cloud Tasks' retry_config in infra/tasks.tf",
    "queue_min_backoff_seconds": "local queue only; Cloud Tasks' retry_config in infra/tasks.tf",
    "queue_max_backoff_seconds": "local queue only; Cloud Tasks' retry_config in infra/tasks.tf",
    "queue_workers": "local queue only; Cloud Tasks' rate_limits in infra/tasks.tf",
    "auth_failures_per_minute": "tuning knob; the default suits production",
    "hf_token_for_tenants": "operator policy, off by default: HF_TOKEN is not used for tenants' models",
    "long_requests_per_tenant": "tuning knob; the default suits production (counted per instance)",
    "long_requests_max": "tuning knob; the default suits production (counted per instance)",
    "server_threads": "local server only (Cloud Run sets each instance's concurrency)",
}
# Settings infra/ already sets that shared/platform/settings.py does not have yet (requested from its owner).
REQUESTED_SETTINGS: set[str] = set()
# Read straight from the environment by the code, for local emulation only: never deployed.
EMULATOR_ONLY_ENV = {"FIRESTORE_EMULATOR_HOST", "CLOUD_TASKS_EMULATOR_HOST"}
PLATFORM_ENV = {"K_SERVICE"}  # set by Cloud Run itself
# Deployed entry points whose routes are still to come (they answer 404 until then).
ROUTES_PENDING: dict[str, str] = {}


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


@cache
def hcl() -> dict[str, Any]:
    """Every .tf file in infra/, merged: {"locals": {...}, "resource": {type: {name: body}}, ...}."""
    merged: dict[str, Any] = {"locals": {}, "resource": {}, "variable": {}, "output": {}}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as fh:
            doc = _unquote(hcl2.load(fh))
        for block in doc.get("locals", []):
            merged["locals"].update(block)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                merged["resource"].setdefault(rtype, {}).update(named)
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                merged[kind].update(block)
    return merged


def entry_points() -> set[str]:
    tree = ast.parse((ROOT / "main.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "functions_framework.http" for d in node.decorator_list)
    }


def infra_env() -> set[str]:
    return set(hcl()["locals"]["common_env"])


def infra_secrets() -> set[str]:
    return set(hcl()["locals"]["secrets"])


# ---- offline tools -------------------------------------------------------------------------------


def test_terraform_is_formatted():
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed (needed for `terraform fmt -check`)"
    result = subprocess.run([terraform, "fmt", "-check", "-recursive", str(INFRA)], capture_output=True, text=True)
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}{result.stderr}"


def test_checkov_finds_nothing_unexplained():
    sys.path.insert(0, str(ROOT))
    from scripts.side_venv import ensure

    checkov = ensure("checkov").parent / "checkov"
    result = subprocess.run(
        [str(checkov), "-d", str(INFRA), "--framework", "terraform", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout or "{}")
    results = report.get("results", {})
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results.get("failed_checks", [])]
    assert not failed, "checkov failures (fix them, or skip in the code with a reason):\n" + "\n".join(failed)
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in results.get("skipped_checks", [])
        if len((c.get("check_result", {}).get("suppress_comment") or "").strip()) < 20
    ]
    assert not unexplained, f"checkov skips without a reason: {unexplained}"
    assert report.get("summary", {}).get("passed", 0) > 0, f"checkov checked nothing: {result.stderr[-2000:]}"


def test_gateway_spec_is_generated_from_the_route_table():
    sys.path.insert(0, str(ROOT))
    from scripts.gateway_spec import OUTPUT, render

    assert OUTPUT.read_text() == render(), "infra/gateway/openapi.yaml.tftpl is stale: run `make gateway-spec`"


# ---- infra/ against the code ---------------------------------------------------------------------


def test_every_entry_point_is_deployed_or_explained():
    functions = set(hcl()["locals"]["functions"])
    local_only = set(hcl()["locals"]["local_only_entry_points"])
    code = entry_points()
    assert code, "found no @functions_framework.http entry point in main.py"
    assert not functions & local_only, f"both deployed and local-only: {functions & local_only}"
    missing, extra = code - functions - local_only, (functions | local_only) - code
    assert not missing, f"add these main.py entry points to local.functions in infra/locals.tf: {sorted(missing)}"
    assert not extra, f"infra/locals.tf deploys entry points main.py does not have: {sorted(extra)}"
    body = hcl()["resource"]["google_cloudfunctions2_function"]["fn"]
    assert body["for_each"] == "${local.functions}" and body["build_config"][0]["entry_point"] == "${each.key}"


def test_each_function_is_exposed_as_its_routes_say():
    functions = hcl()["locals"]["functions"]
    for name, spec in functions.items():
        routes = [r for r in ROUTES if r.function == name]
        if not routes and name in ROUTES_PENDING:
            continue
        assert routes, f"{name} serves no route in functions/routes.py"
        assert name not in ROUTES_PENDING, f"{name} has routes now: remove it from ROUTES_PENDING"
        expected = "public" if any(r.public for r in routes) else "tasks"
        assert spec["invoker"] == expected, f"{name}: invoker should be {expected!r}"
        assert spec["workload"] in ("api", "step", "admin")
        if spec["concurrency"] > 1:
            assert float(spec["cpu"]) >= 1, f"{name}: request concurrency above 1 needs a whole CPU"


def test_every_setting_is_deployed_or_explained():
    fields = set(Settings.model_fields)
    deployed = {name.lower() for name in infra_env() | infra_secrets()}
    assert not deployed & set(NOT_DEPLOYED), f"deployed, yet listed as not deployed: {deployed & set(NOT_DEPLOYED)}"
    missing = fields - deployed - set(NOT_DEPLOYED)
    assert not missing, f"settings infra/ does not set: {sorted(missing)} (deploy them or explain in NOT_DEPLOYED)"
    unknown = deployed - fields - REQUESTED_SETTINGS
    assert not unknown, f"infra/ sets variables shared/platform/settings.py does not read: {sorted(unknown)}"
    assert not set(NOT_DEPLOYED) - fields, (
        f"NOT_DEPLOYED names settings that no longer exist: {set(NOT_DEPLOYED) - fields}"
    )


def test_required_gcp_settings_are_deployed():
    required = {"google_cloud_project", "region", "tasks_queue", "step_function_url", "tasks_invoker_sa"}
    required |= {"public_base_url", "internal_secret", "encryption_keys", "orchestrator_backend"}
    deployed = {name.lower() for name in infra_env() | infra_secrets()}
    assert required <= deployed
    assert hcl()["locals"]["common_env"]["ORCHESTRATOR_BACKEND"] == "gcp"


def test_secrets_are_exactly_the_secret_settings_and_pinned():
    secret_fields = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if SecretStr in (getattr(field.annotation, "__args__", None) or (field.annotation,))
    }
    assert infra_secrets() == secret_fields, "every SecretStr setting comes from Secret Manager, and only those"
    assert not infra_secrets() & infra_env(), "a secret must not also be a plain environment variable"
    versions = _unquote(hcl()["variable"]["secret_versions"]["default"])
    assert set(versions) == infra_secrets()
    assert all(str(v).isdigit() for v in versions.values()), "pin numbered secret versions, never latest"
    fn = hcl()["resource"]["google_cloudfunctions2_function"]["fn"]["service_config"][0]
    assert "var.secret_versions[" in json.dumps(fn["dynamic"])


def test_code_reads_no_environment_variable_behind_settings_back():
    """os.environ reads outside shared/platform/settings.py are emulator switches only, and never deployed."""
    raw: set[str] = set()
    for path in [ROOT / "main.py", *(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        if path.name == "config.py" and path.parent.name == "shared":
            continue
        tree = ast.parse(path.read_text())
        constants = {
            t.id: n.value.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv") and node.args:
                arg = node.args[0]
                raw.add(arg.value if isinstance(arg, ast.Constant) else constants.get(ast.unparse(arg), "?"))
    assert raw <= EMULATOR_ONLY_ENV | PLATFORM_ENV, f"read these through Settings instead: {raw - EMULATOR_ONLY_ENV}"
    assert not infra_env() & (EMULATOR_ONLY_ENV | PLATFORM_ENV), "emulator switches must never be deployed"


def test_firestore_indexes_match_the_code():
    declared = [{"collection": i.collection_group, "fields": [list(f) for f in i.fields()]} for i in COMPOSITE_INDEXES]
    in_infra = hcl()["locals"]["composite_indexes"]
    assert in_infra == declared, (
        "infra/locals.tf composite_indexes must equal COMPOSITE_INDEXES (shared/store/firestore.py)"
    )
    assert hcl()["resource"]["google_firestore_index"]["composite"]["for_each"].startswith("${{")


def test_logs_expire_through_their_own_ttl_policy():
    assert hcl()["locals"]["ttl_fields"]["logs"] == "expire_at"  # repo.log writes expire_at on each log
    assert hcl()["locals"]["ttl_fields"]["rate_limits"] == "expire_at"  # auth.check_rate's counters
    ttl = hcl()["resource"]["google_firestore_field"]["ttl"]
    assert ttl["for_each"] == "${local.ttl_fields}" and "ttl_config" in ttl


def test_task_queue_retry_config_is_explicit():
    queue = hcl()["resource"]["google_cloud_tasks_queue"]["steps"]
    retry = queue["retry_config"][0]
    assert set(retry) == {"max_attempts", "max_retry_duration", "min_backoff", "max_backoff", "max_doublings"}
    limits = queue["rate_limits"][0]
    assert limits["max_dispatches_per_second"] <= 500 and limits["max_concurrent_dispatches"] <= 5000


def test_only_the_tasks_invoker_may_call_internal_functions():
    internal = hcl()["resource"]["google_cloud_run_v2_service_iam_member"]["internal"]
    assert internal["member"] == "${google_service_account.tasks_invoker.member}"
    assert 'f.invoker == "tasks"' in internal["for_each"]
    enqueuer = hcl()["resource"]["google_cloud_tasks_queue_iam_member"]["enqueuer"]
    assert enqueuer["role"] == "roles/cloudtasks.enqueuer" and "google_cloud_tasks_queue.steps.name" in enqueuer["name"]


def test_source_bundle_holds_what_main_py_imports():
    sys.path.insert(0, str(ROOT))
    from scripts.build_source import sources

    names = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert {"main.py", "requirements.txt", "functions/routes.py", "shared/store/firestore.py"} <= names
    assert not any(n.startswith(("tests/", "infra/", ".venv")) or "__pycache__" in n for n in names)
    assert any(n.startswith("shared/catalog/data/") for n in names)


def test_cloud_build_runs_the_pipeline_in_order():
    text = (ROOT / "cloudbuild.yaml").read_text()
    steps = re.findall(r"^  - id: (\S+)", text, flags=re.MULTILINE)
    assert steps == [
        "install",
        "lint",
        "unit-tests",
        "emulator-tests",
        "source-zip",
        "worker-image",
        "terraform-plan",
        "terraform-apply",
        "smoke-test",
    ]
    for name in ("_PROJECT", "_REGION", "_ENVIRONMENT"):
        assert re.search(rf"^  {name}:", text, flags=re.MULTILINE), f"substitution {name} missing"
    # Cloud Build expands $NAME itself: shell variables must be written $$name.
    unescaped = [m for m in re.findall(r"(?<!\$)\$(?!\$)([a-z(][\w(]*)", text)]
    assert not unescaped, f"escape these shell variables as $$: {unescaped}"
    assert 'if [ "${BRANCH_NAME}" != "${_DEPLOY_BRANCH}" ]' in text, "apply must be limited to the deploy branch"


def test_deploy_instructions_exist():
    readme = (INFRA / "README.md").read_text()
    for needed in ("gcloud services enable", "tfstate", "terraform apply", "API_KEY", "at rest"):
        assert needed in readme
