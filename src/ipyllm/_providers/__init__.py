"""Provider adapters: stateless translators between ipyllm's types and each vendor's wire format.

An adapter builds the HTTP request for a turn and maps decoded wire items
(SSE events or NDJSON lines) onto ipyllm's event vocabulary. Adapters hold no
per-stream state: what a stream needs to remember travels in the ``state``
object the adapter creates for it, so one adapter serves many streams at once.
"""
