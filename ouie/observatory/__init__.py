"""The observatory: aggregates, efficacy and the transparency report (DESIGN.md principles 4–7)."""
