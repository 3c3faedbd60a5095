"""Clients of what lies outside: Runpod, the Hugging Face Hub, Google's OIDC tokens, and safe header tokens."""
