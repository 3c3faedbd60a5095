"""Thin HTTP handlers: parse, call the domain in `shared`, shape the answer."""
