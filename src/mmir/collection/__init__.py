"""The bodies of :class:`mmir.api.Collection`'s larger methods: channels, near-duplicates and learning.

Kept out of :mod:`mmir.api` so that the facade stays thin; nothing here is imported by the CLI or the server
directly: they go through :class:`mmir.api.Collection`.
"""
