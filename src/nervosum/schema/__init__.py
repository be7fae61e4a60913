"""Input and output schemas: validation, example records and DataFrame conversion."""

from nervosum.config.types import canonical_type
from nervosum.schema.frame import records_to_frame
from nervosum.schema.records import Record, RecordSchema

__all__ = ["Record", "RecordSchema", "canonical_type", "records_to_frame"]
