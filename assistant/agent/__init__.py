"""The tool-calling agent: what the model is told (spec), the tools it may call, and the loop."""
