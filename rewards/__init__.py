"""Prompts, reference reward programs and generation outputs."""
