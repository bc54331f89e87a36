"""Search: query types, the engine, score fusion and segment → media aggregation."""
