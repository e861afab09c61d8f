"""Beat tasks of this area."""
