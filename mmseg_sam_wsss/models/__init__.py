"""Heads, segmentors and losses registered into mmseg's MODELS."""
