"""Targets: parsing, exclusion, lazy seeded expansion."""
