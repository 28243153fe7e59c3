"""Accord's GraphQL contracts: subgraph directives, the gateway's own API, subgraph helpers."""
