"""Who may see and do what: user roles, their workflow role, and their area (scope).

One place for the role rules. A user's *role* is their job (grid head,
community staff, …); their *scope* is the area they answer for (a grid, a
community, the street). Every core query that returns people, households or
tickets takes a ``Scope`` and filters by it in SQL.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, true

from geo import workflow


@dataclass(frozen=True)
class Role:
    key: str
    name_zh: str
    name_en: str
    level: str  # street / community / grid: what their scope is
    acts_as: str | None  # workflow role, None for read-only accounts

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


ROLES: dict[str, Role] = {
    r.key: r
    for r in [
        Role("street_leader", "街道领导", "Street leader", "street", workflow.STREET),
        Role("street_staff", "街道工作人员", "Street staff", "street", workflow.STREET),
        Role("community_staff", "社区工作人员", "Community staff", "community", workflow.COMMUNITY),
        Role("grid_head", "网格长", "Grid head", "grid", workflow.GRID),
        Role("grid_worker", "网格员", "Grid worker", "grid", workflow.GRID),
        Role("party_member", "党员", "Party member", "grid", workflow.HANDLER),
        Role("screen", "大屏只读账号", "Big-screen (read-only)", "street", None),
    ]
}


@dataclass(frozen=True)
class Scope:
    """An area of responsibility: the whole street, one community or one grid.

    ``street_id=None`` at street level means every street (a district-wide view).
    """

    level: str = "street"
    street_id: int | None = None
    community_id: int | None = None
    grid_id: int | None = None

    def __post_init__(self) -> None:
        if self.level not in ("street", "community", "grid"):
            raise ValueError(f"scope level must be street, community or grid, not {self.level!r}")
        if self.level == "community" and self.community_id is None:
            raise ValueError("a community scope needs community_id")
        if self.level == "grid" and self.grid_id is None:
            raise ValueError("a grid scope needs grid_id")

    def clause(self, table):
        """A WHERE clause for a table that carries street_id / community_id / grid_id columns."""
        c = table.c if hasattr(table, "c") else table.__table__.c
        if self.level == "grid":
            return c.grid_id == self.grid_id
        if self.level == "community":
            return c.community_id == self.community_id if "community_id" in c else false()
        if self.street_id is not None and "street_id" in c:
            return c.street_id == self.street_id
        return true()

    def contains(self, *, street_id=None, community_id=None, grid_id=None) -> bool:
        if self.level == "grid":
            return grid_id == self.grid_id
        if self.level == "community":
            return community_id == self.community_id
        return self.street_id is None or street_id == self.street_id


WHOLE_STREET = Scope("street")


def workflow_role(role_key: str) -> str | None:
    return ROLES[role_key].acts_as
