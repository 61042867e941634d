"""Sensor node: detection, speech suppression, event segmentation, onsets, reports."""
