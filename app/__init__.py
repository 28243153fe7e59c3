"""Accord: the gateway service (HTTP, CLI, identity, federation engine, enforcement, web UI)."""
