"""Learning ouie's detector: labelled datasets, features, training, cross-validation and evaluation.

Nothing here runs on a pole: the sensor (`ouie.sensor`) loads what this produces.
"""
