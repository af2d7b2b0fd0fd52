"""What a flow-log file that cannot be loaded raises: `FlowLogFormatError` (mandatory fields
missing, before any record is read) or `FlowLogCorruptError` (corrupt gzip, a malformed row, a
value of the wrong type; with the line number when there is one)."""

from __future__ import annotations


class FlowLogError(Exception):
    """A flow-log file that cannot be loaded. `source` names the file (path or s3 URL)."""

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        super().__init__(message)


class FlowLogFormatError(FlowLogError):
    """The file's format lacks mandatory fields (or has no usable header).

    `missing_fields`: the absent mandatory fields (hyphenated, sorted); `fields`: the header.
    """

    def __init__(
        self,
        missing_fields: list[str],
        source: str | None = None,
        fields: list[str] | None = None,
        reason: str | None = None,
    ):
        self.missing_fields = list(missing_fields)
        self.fields = list(fields or [])
        if reason is None:
            plural = "s" if len(self.missing_fields) > 1 else ""
            reason = f"missing mandatory field{plural} " + ", ".join(self.missing_fields)
        self.reason = reason
        self.summary = reason
        if self.missing_fields:
            self.summary += (
                ": the flow log must be recreated with a custom format that includes "
                + ("them" if len(self.missing_fields) > 1 else "it")
                + " (AWS cannot edit a flow log's format)"
            )
        where = f"{source}: " if source else ""
        super().__init__(where + self.summary, source)

    def details(self) -> dict:
        return {
            "source": self.source,
            "error": "missing_mandatory_fields" if self.missing_fields else "bad_header",
            "missing_fields": self.missing_fields,
            "fields": self.fields,
            "message": self.summary,
        }


class FlowLogCorruptError(FlowLogError):
    """Corrupt or truncated compression, a malformed row or an untyped value."""

    def __init__(
        self,
        detail: str,
        source: str | None = None,
        line: int | None = None,
        text: str | None = None,
    ):
        self.detail = detail
        self.line = line
        self.text = text
        where = f"{source}: " if source else ""
        at = f"line {line}: " if line is not None else ""
        self.summary = f"{at}{detail}"
        super().__init__(f"{where}{self.summary}", source)

    def details(self) -> dict:
        return {
            "source": self.source,
            "error": "corrupt",
            "line": self.line,
            "detail": self.detail,
            "message": self.summary,
        }
