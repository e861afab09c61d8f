"""Use cases of this area."""
