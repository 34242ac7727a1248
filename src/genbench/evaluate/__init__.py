"""Evaluation stages."""
