"""The course's reference solutions, one module per chapter."""
