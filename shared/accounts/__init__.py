"""Who may do what: tenants and their keys, stored Runpod credentials, idempotency keys, rate limits."""
