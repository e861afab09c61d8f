# Admin for the control levers.
