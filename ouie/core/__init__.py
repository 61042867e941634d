"""Contracts shared by every concern: classes, coordinates, time, reports, recording folders."""
