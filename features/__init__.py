"""Point-in-time feature builders: pure functions from DataFrames to DataFrames with an explicit as_of date."""
