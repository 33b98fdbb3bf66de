"""HTTP route handlers, grouped by resource."""
