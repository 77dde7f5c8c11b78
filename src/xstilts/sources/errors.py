"""Errors of the data sources: each message names the dataset or file and says what to do."""


class DataSourceError(ValueError):
    """A source that cannot produce the examples asked for (wrong spec, unlabelled file, ...)."""


class MissingDataError(DataSourceError, FileNotFoundError):
    """Data that are not on this machine: a hub dataset missing from the cache, a missing file."""
