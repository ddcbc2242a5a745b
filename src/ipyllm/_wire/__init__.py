"""Sans-IO wire decoders: bytes in, events out. They know nothing of HTTP or providers."""
