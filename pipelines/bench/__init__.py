"""`make bench`: every performance figure of the product measured in one run (see __main__.py)."""
