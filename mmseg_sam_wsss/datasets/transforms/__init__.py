"""Pipeline transforms registered into mmseg's TRANSFORMS."""
