"""Flyte provider package."""
