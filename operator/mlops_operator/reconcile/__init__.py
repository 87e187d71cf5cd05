"""Decisions: from observed objects to what should be true. Pure where it can be."""
