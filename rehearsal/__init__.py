"""rehearsal package."""
