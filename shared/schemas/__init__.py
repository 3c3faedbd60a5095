"""Pydantic schemas: what the store holds (stored) and the API's bodies (the rest)."""
