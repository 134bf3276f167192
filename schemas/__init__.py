"""The Watchman's contracts: event envelope, event types, topics and the graph schema.

This package imports nothing else of ours; every other stage depends on it.
"""
