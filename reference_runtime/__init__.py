"""reference_runtime package."""
