"""Process definitions as ops leads work them: catalog, validation and deployment, forms, diffs."""
