"""Fusion: association of reports across sensors and TDOA localization."""
