"""Qt widgets only; they receive services from desktop/, never engine libraries."""
