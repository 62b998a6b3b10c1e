"""Source contracts, landing -> bronze -> silver transformations, validation suites and the synthetic bank."""
