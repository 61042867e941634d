"""Outdoor sound propagation physics shared by the simulator and by training augmentation:
spherical spreading, ISO 9613-1 air absorption, ground reflection, barriers, street reverberation.
"""
