"""reference_runtime: a real asyncio service implementing the Mother Box REST API."""

__version__ = "0.1.0"
