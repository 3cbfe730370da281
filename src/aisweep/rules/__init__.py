"""Fingerprint rules: schema, loader, matcher, request planner; product rules are YAML data in products/."""
