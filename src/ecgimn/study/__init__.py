"""The design study: configurations x seeds, fold 9 selects, fold 10 reports."""
