"""Pydantic schemas: what the store holds (stored, stored_accounts) and the API's bodies (the rest)."""
