"""The kernel session manager: tabs, the worker loop, history, usage."""
