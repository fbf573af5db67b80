"""Stage 4: plugging bytegram into generation libraries (transformers; vLLM later)."""

__all__: list[str] = []
