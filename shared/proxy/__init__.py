"""The inference proxy: callers reach their deployment's Runpod endpoint with their API key only."""
