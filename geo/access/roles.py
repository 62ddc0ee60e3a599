"""Who may see and do what: user roles and their area (scope).

One place for the role rules. A user's *role* is their job (grid head,
community staff, …); their *scope* is the area they answer for (a grid, a
community, the street). Every core query that returns people, households or
tickets takes a ``Scope`` and filters by it in SQL.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, select, true


@dataclass(frozen=True)
class Role:
    key: str
    name_zh: str
    name_en: str
    level: str  # street / community / grid: what their scope is

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


ROLES: dict[str, Role] = {
    r.key: r
    for r in [
        Role("street_leader", "街道领导", "Street leader", "street"),
        Role("street_staff", "街道工作人员", "Street staff", "street"),
        Role("community_staff", "社区工作人员", "Community staff", "community"),
        Role("grid_head", "网格长", "Grid head", "grid"),
        Role("grid_worker", "网格员", "Grid worker", "grid"),
        Role("party_member", "党员", "Party member", "grid"),
        Role("screen", "大屏只读账号", "Big-screen (read-only)", "street"),
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
        """A WHERE clause limiting ``table`` to this area, run in SQL on both backends.

        The table needs a street_id, community_id or grid_id column; a finer
        one is lifted through the containment tree (grid → community →
        street) with a sub-select, so households (grid_id only) still filter
        by community or street. A table with none of them matches nothing
        below street level: unknown means no access, never all.
        """
        from geo.db.schema import Community, Grid  # local: schema is heavier than the rules

        c = table.c if hasattr(table, "c") else table.__table__.c
        if self.level == "grid":
            return c.grid_id == self.grid_id if "grid_id" in c else false()
        if self.level == "community":
            if "community_id" in c:
                return c.community_id == self.community_id
            if "grid_id" in c:
                return c.grid_id.in_(select(Grid.id).where(Grid.community_id == self.community_id))
            return false()
        if self.street_id is None:
            return true()
        if "street_id" in c:
            return c.street_id == self.street_id
        in_street = select(Community.id).where(Community.street_id == self.street_id)
        if "community_id" in c:
            return c.community_id.in_(in_street)
        if "grid_id" in c:
            return c.grid_id.in_(select(Grid.id).where(Grid.community_id.in_(in_street)))
        return false()

    def contains(self, *, street_id=None, community_id=None, grid_id=None) -> bool:
        if self.level == "grid":
            return grid_id == self.grid_id
        if self.level == "community":
            return community_id == self.community_id
        return self.street_id is None or street_id == self.street_id


WHOLE_STREET = Scope("street")


def scope_for(role_key: str, *, street_id: int | None = None, community_id: int | None = None,
              grid_id: int | None = None) -> Scope:
    """The area a user of ``role_key`` answers for, from the ids stored with the user."""
    if role_key not in ROLES:
        raise ValueError(f"unknown role {role_key!r}; known: {', '.join(ROLES)}")
    level = ROLES[role_key].level
    return Scope(level, street_id=street_id,
                 community_id=community_id if level in ("community", "grid") else None,
                 grid_id=grid_id if level == "grid" else None)


# --------------------------------------------------------------------------- pages and permissions

_ALL = frozenset(ROLES)
_DESK = _ALL - {"screen"}

#: Page key → roles that see it in the navigation (app.py builds st.navigation from this).
PAGE_ACCESS: dict[str, set[str]] = {
    "my_area": {"grid_head", "grid_worker", "party_member", "community_staff", "street_leader", "street_staff"},
    "map": set(_ALL),
    "tickets": set(_DESK),
    "indicators": set(_DESK),
    "report": set(_DESK),
    "coverage": {"street_leader", "street_staff", "community_staff"},
    "screen": {"street_leader", "street_staff", "screen"},
    "audit": {"street_leader"},
    "boundaries": {"street_leader", "street_staff", "community_staff"},
    "gridplan": {"street_leader", "street_staff", "community_staff"},  # 网格规划 (geo.grids: rules, edits, autocut)
    "load": {"street_leader", "street_staff"},
    "security": {"street_leader"},
    # 居民入口 (issue 16): QR sheets of one's own area; API keys and 12345 batches for the street's staff
    "doors": {"street_leader", "street_staff", "community_staff", "grid_head"},
    # the people around the grid (issue 17)
    "party": {"party_member"},  # 党员接单: offers, claims, arrival, on a phone
    "volunteers": {"street_leader", "street_staff", "community_staff", "grid_head"},
    "patrols": {"street_leader", "street_staff", "community_staff", "grid_head", "grid_worker"},
    "contact_point": {"street_leader", "street_staff"},  # 领导联系点
    "estates": {"street_leader", "street_staff", "community_staff", "grid_head"},  # 红色物业, 三无小区
    "councils": {"street_leader", "street_staff", "community_staff", "grid_head"},  # 议事协商
}

#: The page a role lands on after login, first one that exists and is allowed.
HOME_PAGES: dict[str, tuple[str, ...]] = {
    "street_leader": ("contact_point", "map"),  # their contact point's tickets and figures (领导联系点)
    "grid_head": ("my_area", "map"),
    "grid_worker": ("my_area", "map"),
    "party_member": ("party", "my_area", "map"),
    "screen": ("screen", "map"),
}

#: Actions beyond reading, and who may take them. Personal details (full name,
#: phone) are revealed one household at a time and every reveal is audited;
#: ID numbers are never shown to anyone (GB/T 31000: show people data only to
#: those whose grid it is, masked by default).
PERMISSIONS: dict[str, set[str]] = {
    "reveal_household": {"street_leader", "street_staff", "community_staff", "grid_head", "grid_worker"},
    "record_visit": {"community_staff", "grid_head", "grid_worker"},
    "edit_people": {"street_staff", "community_staff", "grid_head", "grid_worker"},
    "read_audit": {"street_leader"},
    "manage_users": {"street_leader"},
    # 账号安全: lift sign-in waits (geo.access.throttle), rotate the wall token and end walls' sessions (geo.access.kiosk)
    "manage_security": {"street_leader"},
    # 网格调整: community staff re-cut grids of their own community only (their scope; geo.grids.boundaries)
    "edit_boundaries": {"street_leader", "street_staff", "community_staff"},
    # 居民入口: API keys of the street's Open311 door (geo.intake.keys) and the 12345 hotline's batches (geo.intake.hotline)
    "manage_api_keys": {"street_leader", "street_staff"},
    "import_hotline": {"street_leader", "street_staff"},
    # 街道数据: load a street's own files, replace the demo, export every layer (geo.load)
    "load_data": {"street_leader", "street_staff"},
    # the people around the grid (issue 17), each inside the user's own area (geo.people.*)
    "claim_ticket": {"party_member"},  # 党员接单: take an offered ticket, record arrival on site
    "bind_people": {"street_staff", "community_staff", "grid_head"},  # 包保, 联户长, 楼栋长, grid team
    "appoint_grid_head": {"street_staff", "community_staff"},  # a grid head does not appoint grid heads
    "manage_volunteers": {"street_staff", "community_staff", "grid_head"},  # teams, activities, time bank
    "record_patrol": {"community_staff", "grid_head", "grid_worker"},  # 巡查评比
    "manage_contact_points": {"street_leader", "street_staff"},  # who is bound to which point
    "record_leader_visit": {"street_leader", "street_staff"},  # a leader's own visit, or staff on their behalf
    "edit_estates": {"street_staff", "community_staff"},  # property company, supervisor, 三有
    "manage_councils": {"street_staff", "community_staff", "grid_head"},  # 一征三议两公开
    # the wall down to a grid (issue 19): a grid team's phones in full; the wall's own account sees them masked
    "call_grid_team": {"street_leader", "street_staff", "community_staff", "grid_head", "grid_worker"},
    "handle_warnings": {"street_leader", "street_staff", "community_staff", "grid_head"},  # 智能预警: acknowledge, close
}


def may_see(role_key: str, page: str) -> bool:
    return role_key in PAGE_ACCESS.get(page, ())


def may(role_key: str, action: str) -> bool:
    if action not in PERMISSIONS:
        raise ValueError(f"unknown permission {action!r}; known: {', '.join(PERMISSIONS)}")
    return role_key in PERMISSIONS[action]


def home_page(role_key: str, available: set[str] | None = None) -> str:
    """The first page of the role's home list that exists (``available``) and it may see."""
    for page in HOME_PAGES.get(role_key, ("map",)):
        if may_see(role_key, page) and (available is None or page in available):
            return page
    return "map"
