"""Tables, sessions and queries. Knows SQL, not chat."""
