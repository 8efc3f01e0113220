"""The version of astjax, apart from the package so that codegen reads it without importing astjax."""
__version__ = "0.1.0"
