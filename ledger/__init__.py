"""The consent ledger: entries, Merkle log, storage, checkpoints, consents, contracts, decisions.

This package knows nothing of HTTP or GraphQL; the gateway (``app``) calls into it.
"""
