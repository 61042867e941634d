"""The observatory: aggregates, efficacy and the transparency report (docs/design.md,
principles 4–7)."""
