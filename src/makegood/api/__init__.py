"""The operators' HTTP API under /api: JSON in and out, API keys, the OpenAPI document."""
