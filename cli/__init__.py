"""The `baton` command line: an adapter beside `webui/`, calling the same use cases as the pages."""
