"""ipyllm: LLMs in Jupyter."""
