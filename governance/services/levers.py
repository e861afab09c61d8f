"""Control levers: go-live, risk guard, recommendation charter."""
