"""Webhooks: Standard Webhooks signatures and the guard against server-side request forgery."""
