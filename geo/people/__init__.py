"""The people of a grid and the people around it, scoped, masked and audited.

Holds: ``households`` (households, residents, reveal and correction, the
party members and volunteers bound to an area), ``visits`` (household visits,
which may open a ticket), ``orders`` (党员接单: offers, claims, arrival within
30 minutes), ``bindings`` (包保 5–8 households, 联户长, building heads, the grid
team), ``volunteers`` (teams, activities, the time bank), ``patrols`` (monthly
ratings: 清洁文明户, 卫生单元楼, 安全楼栋), ``leaders`` (领导联系点 and their visits),
``estates`` (红色物业, 三无小区 → 三有), ``councils`` (议事: 一征三议两公开, the public list).
May import: the top modules and geo.db, geo.place, geo.io, geo.access, geo.tickets.
"""
