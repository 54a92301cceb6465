"""The edit log: who changed what in a package over HTTP, and when.

One row per acknowledged edit, written in the edit's own transaction, so a
row exists exactly when its edit was committed. `changes` lists each field
the edit changed as `{"field", "old", "new"}` in the API's terms (category
and grids as ids); a package's creation lists its fields with old null, its
removal with new null. The token is kept by id and by name as it was then:
the rows outlive the token, and the package too (no foreign keys).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import NEVER_REUSED_IDS, Base, JSONValue, UTCDateTime, utcnow

CREATED = "created"
EDITED = "edited"
DELETED = "deleted"
ACTIONS = (CREATED, EDITED, DELETED)


class PackageEdit(Base):
    __tablename__ = "package_edits"
    __table_args__ = (
        Index("ix_package_edits_package_id_id", "package_id", "id"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_id: Mapped[int] = mapped_column(Integer)
    token_id: Mapped[int] = mapped_column(Integer)
    token_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(10))
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
