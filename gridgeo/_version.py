"""The version of gridgeo."""

__version__ = "0.1.0"
