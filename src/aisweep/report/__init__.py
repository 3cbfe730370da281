"""Reports rendered from stored runs."""
