"""Real-browser tests (a package, so that its ``scope="package"`` fixtures end with it)."""
