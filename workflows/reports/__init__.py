"""Process review and agency economics reports: SQL aggregates over the projections, one descriptor each."""
