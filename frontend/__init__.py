"""The chat widget and the operator console pages."""
