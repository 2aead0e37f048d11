"""bitsmith.targets: hardware descriptions (schema, loader, shipped YAML library)."""
