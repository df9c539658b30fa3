"""ltvkit: customer lifetime value prediction from raw transaction logs."""

__version__ = "0.1.0"
