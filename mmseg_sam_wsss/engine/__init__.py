"""Hooks registered into mmseg's HOOKS, and the checkpoint-loading fix."""
