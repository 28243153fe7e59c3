"""Consent enforcement in the gateway: the guard before each entity fetch, disclosure
recording on the ledger before a response is released, gateway tokens on subgraph calls."""
