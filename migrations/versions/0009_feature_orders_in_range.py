"""Feature orders within 0 to 1,000,000, the range the API and import accept.

The range used to reach the column's 32-bit limit, where "after the last
row" (last + 1) overflowed; SQLite even stored orders past it. Each grid
holding an order above the range has its rows numbered 0, 1, 2, ... in the
order they were shown (by order, then id), so every grid reads as before
and its export imports again. Other grids are left as they are.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app.models.FEATURE_ORDER_MAX as of this revision.
ORDER_MAX = 1_000_000


def upgrade() -> None:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, grid_id FROM grid_features WHERE grid_id IN "
            '(SELECT grid_id FROM grid_features WHERE "order" > :highest) '
            'ORDER BY grid_id, "order", id'
        ),
        {"highest": ORDER_MAX},
    )
    orders: list[dict[str, int]] = []
    position: dict[int, int] = {}
    for feature_id, grid_id in rows:
        position[grid_id] = position.get(grid_id, -1) + 1
        orders.append({"id": feature_id, "order": position[grid_id]})

    if orders:
        op.get_bind().execute(
            sa.text('UPDATE grid_features SET "order" = :order WHERE id = :id'),
            orders,
        )


def downgrade() -> None:
    """Nothing to undo: the wider range held these orders too."""
