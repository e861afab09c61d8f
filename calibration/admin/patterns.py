# Admin for this area.
