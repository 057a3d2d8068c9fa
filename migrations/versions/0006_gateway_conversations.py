"""gateway: delivery truth, the 24-hour window and typing (issue 14)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 21:00:00

Reserved so that work on several issues can add its migration in parallel without forking
the chain; empty until that work lands.
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
