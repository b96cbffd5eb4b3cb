//! Pure functions: spec + resolved ARNs → AWS names, tags and documents.
