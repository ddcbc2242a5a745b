"""The engine: one request to one provider, streamed, with retries, timeouts and errors.

It knows HTTP and provider adapters, and nothing of tabs, widgets or magics.
"""
