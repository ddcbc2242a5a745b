"""The chat panel: an anywidget view over the session manager's tabs."""
