"""The run's error collector as the resolver reports to it."""

from __future__ import annotations

from netdsl.core.errors import ErrorCollector, NetdslError, SourceLoc


class Tally(ErrorCollector):
    """All goes to ``into``; ``reports`` counts every error and warning made (also those ``into``
    drops as repeats of earlier ones): a block instance that reported nothing is a template."""

    def __init__(self, into: ErrorCollector) -> None:  # (no state of its own but the count)
        self.into = into
        self.reports = 0

    @property
    def errors(self) -> list[NetdslError]:
        return self.into.errors

    @errors.setter
    def errors(self, value: list[NetdslError]) -> None:
        self.into.errors = value

    @property
    def warnings(self) -> list[NetdslError]:
        return self.into.warnings

    @warnings.setter
    def warnings(self, value: list[NetdslError]) -> None:
        self.into.warnings = value

    def add(self, err: NetdslError) -> None:
        self.reports += 1
        self.into.add(err)

    def warn(self, message: str, loc: SourceLoc, hint: str | None = None) -> None:
        self.reports += 1
        self.into.warn(message, loc, hint)

    def raise_if_any(self) -> None:
        self.into.raise_if_any()
