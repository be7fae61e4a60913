"""Input and output schemas: validation, example records and DataFrame conversion."""

from nervosum.config.types import Record
from nervosum.schema.frame import records_to_frame
from nervosum.schema.records import RecordSchema

__all__ = ["Record", "RecordSchema", "records_to_frame"]
