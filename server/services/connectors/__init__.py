"""Content connectors: one module per kind of source, all behind ``base.Connector``."""
