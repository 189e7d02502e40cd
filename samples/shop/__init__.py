"""A small shop: users and their orders, the application code the sample tests exercise."""
