"""The one place the version is written; setup.py and the C build read it."""
__version__ = "0.1.0"
