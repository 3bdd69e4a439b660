"""testkey-nb: read-only evidence about LLM-provider API keys."""

__version__ = "0.1.0"
