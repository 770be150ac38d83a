"""Read models: the inbox, the engagement board, lists, the stage timeline and live diagrams."""
