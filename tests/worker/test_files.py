"""Which files the worker downloads from a repository."""

from __future__ import annotations

from worker.files import diffusers_components, select_files

SDXL_TURBO = [
    ".gitattributes",
    "README.md",
    "image.png",
    "model_index.json",
    "sd_xl_turbo_1.0.safetensors",
    "sd_xl_turbo_1.0_fp16.safetensors",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.fp16.safetensors",
    "text_encoder/model.safetensors",
    "text_encoder/model.onnx",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.bin",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "vae_decoder/model.onnx",
]
SDXL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline",
    "_diffusers_version": "0.24.0",
    "feature_extractor": [None, None],
    "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def test_diffusers_takes_the_pipeline_folders_in_one_format_without_variants() -> None:
    assert diffusers_components(SDXL_INDEX) == ["scheduler", "text_encoder", "tokenizer", "unet", "vae"]
    chosen = select_files(SDXL_TURBO, "diffusers", SDXL_INDEX)
    assert chosen.variant is None
    assert chosen.files == (
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    )


def test_a_variant_is_used_when_it_is_all_there_is() -> None:
    files = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors"]
    index = {"unet": ["diffusers", "UNet2DConditionModel"]}
    chosen = select_files(files, "diffusers", index)
    assert chosen.files == tuple(files) and chosen.variant == "fp16"


def test_transformers_takes_sharded_safetensors_and_leaves_other_formats() -> None:
    files = [
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
        "pytorch_model.bin.index.json",
        "consolidated.safetensors",
        "original/consolidated.00.pth",
        "tf_model.h5",
        "flax_model.msgpack",
        "tokenizer.json",
        "tokenizer_config.json",
        "onnx/model.onnx",
    ]
    chosen = select_files(files, "transformers")
    assert chosen.files == (
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
    )


def test_bin_only_repositories_keep_their_bin() -> None:
    chosen = select_files(["config.json", "pytorch_model.bin", "vocab.txt"], "transformers")
    assert chosen.files == ("config.json", "pytorch_model.bin", "vocab.txt")
