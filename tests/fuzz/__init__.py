"""Fuzzing of the model loaders (see README, "Fuzzing")."""
