"""Connectors: issuers, targets, notifiers and discovery sources, each behind one Protocol per kind.

A connector never touches the store; the service that calls it loads what it needs and
records what it returns.
"""
