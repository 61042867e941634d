"""The composition root: assembles the concerns into running programs (`ouie serve`, `ouie demo`,
the camera desk, `ouie locate`, `ouie cue`). Nothing below imports it (docs/design.md, layers).
"""
