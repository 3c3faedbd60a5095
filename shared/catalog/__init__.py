"""What a model needs and where it runs: GPU pools, VRAM estimation, the model registry, worker image choice."""
