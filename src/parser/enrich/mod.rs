//! Enrichers: the `method:` statics of parser nodes.
