"""GPU selection, VRAM estimates and the model-name catalog: pure domain logic."""

from __future__ import annotations

import pytest

from shared.catalog import gpu_pools, model_registry, vram
from shared.catalog.model_names import UnknownModel
from shared.clients.hub import ModelFacts
from shared.platform.settings import load_settings
from shared.services import build


def test_auto_picks_up_to_three_cheapest_pools_that_fit() -> None:
    choice = gpu_pools.select(20.0)
    assert choice.pools == ["AMPERE_24", "ADA_24", "AMPERE_48"]
    assert all(gpu_pools.pool_by_id(p).usable_gb() >= 20.0 for p in choice.pools)
    assert choice.gpu_count == 1


def test_auto_moves_to_multi_gpu_when_no_single_gpu_fits() -> None:
    # 150 GB still fits one B200 (90% of 180 GB); a 72B BF16 model (~173 GB with overhead) needs two GPUs.
    one = gpu_pools.select(150.0)
    assert (one.pools, one.gpu_count) == (["BLACKWELL_180"], 1)
    choice = gpu_pools.select(173.0)
    assert choice.gpu_count == 2
    assert choice.pools[0] == "HOPPER_141"
    assert all(gpu_pools.pool_by_id(p).usable_gb(2) >= 173.0 for p in choice.pools)


def test_nothing_fits_is_no_gpu_fits() -> None:
    with pytest.raises(gpu_pools.SelectionError) as err:
        gpu_pools.select(5000.0)
    assert err.value.code == "no_gpu_fits"


@pytest.mark.parametrize(
    ("tier", "pool"),
    [("A40", "AMPERE_48"), ("4090", "ADA_24"), ("A100", "AMPERE_80"), ("H100", "ADA_80_PRO"),
     ("L40S", "ADA_48_PRO"), ("AMPERE_48", "AMPERE_48"), ("rtx a6000", "AMPERE_48"), ("NVIDIA A40", "AMPERE_48")],
)  # fmt: skip
def test_gpu_tier_names_and_pool_ids_resolve(tier: str, pool: str) -> None:
    assert gpu_pools.resolve_tier(tier).id == pool
    assert gpu_pools.select(10.0, tier).pools == [pool]


def test_requested_tier_too_small_says_how_much_is_needed() -> None:
    with pytest.raises(gpu_pools.SelectionError) as err:
        gpu_pools.select(30.0, "4090")
    assert err.value.code == "gpu_too_small"
    assert "30.0 GB" in err.value.message and "4090" in err.value.message


def test_unknown_tier_is_rejected() -> None:
    with pytest.raises(gpu_pools.SelectionError):
        gpu_pools.resolve_tier("TPU9000")


def test_vram_from_safetensors_counts() -> None:
    facts = ModelFacts("m", parameters={"BF16": 1_000_000_000, "F32": 250_000_000})
    weights, _ = vram.weight_bytes(facts)
    assert weights == 2_000_000_000 + 1_000_000_000
    assert vram.estimate(facts).required_gb == pytest.approx(3e9 * 1.2 / vram.GIB)


def test_vram_from_files_prefers_safetensors_and_skips_copies() -> None:
    facts = ModelFacts(
        "m",
        file_sizes={
            "model.safetensors": 4_000_000_000,
            "pytorch_model.bin": 4_000_000_000,
            "original/consolidated.safetensors": 4_000_000_000,
            "README.md": 10,
        },
    )
    assert vram.weight_bytes(facts)[0] == 4_000_000_000


def test_llm_estimate_adds_kv_cache_for_max_length() -> None:
    config = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096,
              "max_position_embeddings": 131072}  # fmt: skip
    facts = ModelFacts("llama", pipeline_tag="text-generation", library_name="transformers",
                       parameters={"BF16": 8_000_000_000}, config=config)  # fmt: skip
    est = vram.estimate(facts)
    assert est.max_model_len == 8192
    assert est.kv_cache_bytes == 2 * 32 * 8 * 128 * 2 * 8192
    assert est.required_gb == pytest.approx((16e9 * 1.2 + est.kv_cache_bytes) / vram.GIB)


def test_get_hf_name_seed_example_and_unknowns(tmp_path) -> None:
    svc = build(load_settings({"DATA_DIR": str(tmp_path)}))
    assert model_registry.get_hf_name(svc, "veo3", "fal") == "black-forest-labs/FLUX.1-schnell"
    assert model_registry.get_hf_name(svc, "VEO3", "FAL") == "black-forest-labs/FLUX.1-schnell"
    assert model_registry.get_hf_name(svc, "sd-turbo") == "stabilityai/sd-turbo"
    assert model_registry.get_hf_name(svc, "sd-turbo", "fal") == "stabilityai/sd-turbo"  # wildcard provider
    with pytest.raises(UnknownModel):
        model_registry.get_hf_name(svc, "no-such-model", "fal")
    with pytest.raises(UnknownModel):
        model_registry.get_hf_name(svc, "veo3", "replicate")
    # The registry is data: admins add and remove names, and the shipped seed is not re-applied.
    model_registry.upsert(
        svc, model_registry.RegistryModel(name="my-model", provider="acme", hf_model_id="acme/my-model")
    )
    assert model_registry.get_hf_name(svc, "my-model", "acme") == "acme/my-model"
    model_registry.remove(svc, "fal", "veo3")
    with pytest.raises(UnknownModel):
        model_registry.get_hf_name(svc, "veo3", "fal")
    svc.extras.clear()
    with pytest.raises(UnknownModel):
        model_registry.get_hf_name(svc, "veo3", "fal")
