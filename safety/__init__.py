"""The safety layer: keyword, classifier and value-alignment tiers, and PII redaction."""
