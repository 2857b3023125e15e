"""Helpers shared by the tools (no mmseg)."""
