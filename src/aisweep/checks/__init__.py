"""Python checks that turn an identified service and its observations into findings."""
