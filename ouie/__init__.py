"""ouie: acoustic event detection and localization for city control rooms."""

__version__ = "0.1.0"
