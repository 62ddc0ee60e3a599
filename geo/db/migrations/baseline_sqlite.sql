-- The schema at revision 0001 (SQLite), for tests/db/test_migrations.py: upgraded to head it must equal geo/db/schema.py.
CREATE TABLE app_user (
	id INTEGER NOT NULL, 
	username VARCHAR(32) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	role VARCHAR(24) NOT NULL, 
	display_name VARCHAR(48) NOT NULL, 
	street_id INTEGER, 
	community_id INTEGER, 
	grid_id INTEGER, 
	person_id INTEGER, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (username), 
	FOREIGN KEY(street_id) REFERENCES street (id), 
	FOREIGN KEY(community_id) REFERENCES community (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id), 
	FOREIGN KEY(person_id) REFERENCES person (id)
);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	role VARCHAR(24), 
	action VARCHAR(32) NOT NULL, 
	object_type VARCHAR(24), 
	object_id INTEGER, 
	grid_id INTEGER, 
	detail TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE building (
	id INTEGER NOT NULL, 
	grid_id INTEGER NOT NULL, 
	estate_id INTEGER, 
	name VARCHAR(64) NOT NULL, 
	floors INTEGER NOT NULL, 
	units INTEGER NOT NULL, 
	households INTEGER NOT NULL, 
	residents INTEGER NOT NULL, 
	entrance_lon FLOAT NOT NULL, 
	entrance_lat FLOAT NOT NULL, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id), 
	FOREIGN KEY(estate_id) REFERENCES estate (id)
);
CREATE TABLE camera (
	id INTEGER NOT NULL, 
	code VARCHAR(24) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	grid_id INTEGER, 
	heading FLOAT NOT NULL, 
	fov FLOAT NOT NULL, 
	range_m FLOAT NOT NULL, 
	status VARCHAR(12) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	UNIQUE (code), 
	FOREIGN KEY(grid_id) REFERENCES grid (id)
);
CREATE TABLE care_link (
	person_id INTEGER NOT NULL, 
	household_id INTEGER NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	PRIMARY KEY (person_id, household_id), 
	FOREIGN KEY(person_id) REFERENCES person (id), 
	FOREIGN KEY(household_id) REFERENCES household (id)
);
CREATE TABLE community (
	id INTEGER NOT NULL, 
	street_id INTEGER NOT NULL, 
	code VARCHAR(12) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	workflow VARCHAR(24), 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(street_id) REFERENCES street (id), 
	UNIQUE (code)
);
CREATE TABLE estate (
	id INTEGER NOT NULL, 
	grid_id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	has_property_company BOOLEAN NOT NULL, 
	has_owners_committee BOOLEAN NOT NULL, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id)
);
CREATE TABLE facility (
	id INTEGER NOT NULL, 
	type VARCHAR(24) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	community_id INTEGER, 
	grid_id INTEGER, 
	address VARCHAR(128), 
	open_hours VARCHAR(32), 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(community_id) REFERENCES community (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id)
);
CREATE TABLE grid (
	id INTEGER NOT NULL, 
	community_id INTEGER NOT NULL, 
	code VARCHAR(16) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	grid_type VARCHAR(16) NOT NULL, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(community_id) REFERENCES community (id), 
	UNIQUE (code)
);
CREATE TABLE household (
	id INTEGER NOT NULL, 
	building_id INTEGER NOT NULL, 
	grid_id INTEGER NOT NULL, 
	unit_no INTEGER NOT NULL, 
	room VARCHAR(8) NOT NULL, 
	size INTEGER NOT NULL, 
	elderly_alone BOOLEAN NOT NULL, 
	low_income BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(building_id) REFERENCES building (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id)
);
CREATE TABLE kiosk_token (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	retired_at DATETIME, 
	retired_by VARCHAR(64), 
	PRIMARY KEY (id), 
	UNIQUE (token_hash)
);
CREATE TABLE login_session (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	role_area VARCHAR(96) NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	address VARCHAR(64), 
	kiosk_token_id INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash), 
	FOREIGN KEY(user_id) REFERENCES app_user (id), 
	FOREIGN KEY(kiosk_token_id) REFERENCES kiosk_token (id)
);
CREATE TABLE login_throttle (
	kind VARCHAR(8) NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	address VARCHAR(64) NOT NULL, 
	failures INTEGER NOT NULL, 
	refused INTEGER NOT NULL, 
	blocked_until DATETIME, 
	last_at DATETIME, 
	last_success_at DATETIME, 
	PRIMARY KEY (kind, username, address)
);
CREATE TABLE meta (
	"key" VARCHAR(32) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE open_space (
	id INTEGER NOT NULL, 
	community_id INTEGER, 
	grid_id INTEGER, 
	kind VARCHAR(12) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	area_m2 FLOAT, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(community_id) REFERENCES community (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id)
);
CREATE TABLE person (
	id INTEGER NOT NULL, 
	role VARCHAR(24) NOT NULL, 
	name VARCHAR(32) NOT NULL, 
	phone VARCHAR(16), 
	resident_id INTEGER, 
	street_id INTEGER, 
	community_id INTEGER, 
	grid_id INTEGER, 
	building_id INTEGER, 
	team_id INTEGER, 
	workplace VARCHAR(64), 
	contact_grid_id INTEGER, 
	available BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(resident_id) REFERENCES resident (id), 
	FOREIGN KEY(street_id) REFERENCES street (id), 
	FOREIGN KEY(community_id) REFERENCES community (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id), 
	FOREIGN KEY(building_id) REFERENCES building (id), 
	FOREIGN KEY(team_id) REFERENCES volunteer_team (id), 
	FOREIGN KEY(contact_grid_id) REFERENCES grid (id)
);
CREATE TABLE resident (
	id INTEGER NOT NULL, 
	household_id INTEGER NOT NULL, 
	grid_id INTEGER NOT NULL, 
	name VARCHAR(32) NOT NULL, 
	gender VARCHAR(1) NOT NULL, 
	birth_year INTEGER NOT NULL, 
	phone VARCHAR(16), 
	id_number VARCHAR(18) NOT NULL, 
	elderly_alone BOOLEAN NOT NULL, 
	disabled BOOLEAN NOT NULL, 
	low_income BOOLEAN NOT NULL, 
	party_member BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(household_id) REFERENCES household (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id)
);
CREATE TABLE road (
	id INTEGER NOT NULL, 
	kind VARCHAR(12) NOT NULL, 
	name VARCHAR(64), 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id)
);
CREATE TABLE street (
	id INTEGER NOT NULL, 
	code VARCHAR(12) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	UNIQUE (code)
);
CREATE TABLE ticket (
	id INTEGER NOT NULL, 
	code VARCHAR(24) NOT NULL, 
	category VARCHAR(24) NOT NULL, 
	description TEXT NOT NULL, 
	state VARCHAR(24) NOT NULL, 
	workflow VARCHAR(24) NOT NULL, 
	urgent BOOLEAN NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	street_id INTEGER, 
	community_id INTEGER, 
	grid_id INTEGER, 
	routing_flag VARCHAR(24), 
	reporter_name VARCHAR(32), 
	reporter_phone VARCHAR(16), 
	assignee_id INTEGER, 
	department VARCHAR(32), 
	level VARCHAR(12) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	accepted_at DATETIME, 
	first_response_at DATETIME, 
	resolved_at DATETIME, 
	closed_at DATETIME, 
	due_at DATETIME, 
	step_due_at DATETIME, 
	assigned_at DATETIME, 
	arrive_by DATETIME, 
	arrived_at DATETIME, 
	photo VARCHAR(255), 
	rating INTEGER, 
	rating_comment TEXT, 
	rating_channel VARCHAR(16), 
	first_resolved_at DATETIME, 
	ratings_given INTEGER NOT NULL, 
	ratings_satisfied INTEGER NOT NULL, 
	ratings_self INTEGER NOT NULL, 
	ratings_self_satisfied INTEGER NOT NULL, 
	reopen_count INTEGER NOT NULL, 
	merged_into_id INTEGER, 
	version INTEGER NOT NULL, 
	geom BLOB, 
	minx FLOAT, 
	miny FLOAT, 
	maxx FLOAT, 
	maxy FLOAT, 
	PRIMARY KEY (id), 
	UNIQUE (code), 
	FOREIGN KEY(street_id) REFERENCES street (id), 
	FOREIGN KEY(community_id) REFERENCES community (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id), 
	FOREIGN KEY(assignee_id) REFERENCES person (id), 
	FOREIGN KEY(merged_into_id) REFERENCES ticket (id)
);
CREATE TABLE ticket_event (
	id INTEGER NOT NULL, 
	ticket_id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(48) NOT NULL, 
	actor_role VARCHAR(24) NOT NULL, 
	action VARCHAR(24) NOT NULL, 
	from_state VARCHAR(24), 
	to_state VARCHAR(24) NOT NULL, 
	note TEXT, 
	rating INTEGER, 
	rating_channel VARCHAR(16), 
	PRIMARY KEY (id), 
	FOREIGN KEY(ticket_id) REFERENCES ticket (id)
);
CREATE TABLE visit (
	id INTEGER NOT NULL, 
	household_id INTEGER NOT NULL, 
	grid_id INTEGER NOT NULL, 
	visited_on DATE NOT NULL, 
	visitor VARCHAR(48) NOT NULL, 
	note TEXT, 
	issues VARCHAR(255), 
	ticket_id INTEGER, 
	created_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(household_id) REFERENCES household (id), 
	FOREIGN KEY(grid_id) REFERENCES grid (id), 
	FOREIGN KEY(ticket_id) REFERENCES ticket (id)
);
CREATE TABLE volunteer_team (
	id INTEGER NOT NULL, 
	community_id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	specialty VARCHAR(32) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(community_id) REFERENCES community (id)
);
CREATE INDEX ix_audit_log_action ON audit_log (action);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_audit_log_username ON audit_log (username);
CREATE INDEX ix_building_bbox ON building (minx, maxx, miny, maxy);
CREATE INDEX ix_building_estate_id ON building (estate_id);
CREATE INDEX ix_building_grid_id ON building (grid_id);
CREATE INDEX ix_camera_bbox ON camera (minx, maxx, miny, maxy);
CREATE INDEX ix_community_bbox ON community (minx, maxx, miny, maxy);
CREATE INDEX ix_community_street_id ON community (street_id);
CREATE INDEX ix_estate_bbox ON estate (minx, maxx, miny, maxy);
CREATE INDEX ix_estate_grid_id ON estate (grid_id);
CREATE INDEX ix_facility_bbox ON facility (minx, maxx, miny, maxy);
CREATE INDEX ix_facility_type ON facility (type);
CREATE INDEX ix_grid_bbox ON grid (minx, maxx, miny, maxy);
CREATE INDEX ix_grid_community_id ON grid (community_id);
CREATE INDEX ix_household_building_id ON household (building_id);
CREATE INDEX ix_household_grid_id ON household (grid_id);
CREATE INDEX ix_login_session_kiosk_token_id ON login_session (kiosk_token_id);
CREATE INDEX ix_login_session_user_id ON login_session (user_id);
CREATE INDEX ix_open_space_bbox ON open_space (minx, maxx, miny, maxy);
CREATE INDEX ix_open_space_community_id ON open_space (community_id);
CREATE INDEX ix_person_community_id ON person (community_id);
CREATE INDEX ix_person_grid_id ON person (grid_id);
CREATE INDEX ix_person_role ON person (role);
CREATE INDEX ix_resident_grid_id ON resident (grid_id);
CREATE INDEX ix_resident_household_id ON resident (household_id);
CREATE INDEX ix_road_bbox ON road (minx, maxx, miny, maxy);
CREATE INDEX ix_street_bbox ON street (minx, maxx, miny, maxy);
CREATE INDEX ix_ticket_bbox ON ticket (minx, maxx, miny, maxy);
CREATE INDEX ix_ticket_category ON ticket (category);
CREATE INDEX ix_ticket_community_id ON ticket (community_id);
CREATE INDEX ix_ticket_created_at ON ticket (created_at);
CREATE INDEX ix_ticket_event_at ON ticket_event (at);
CREATE INDEX ix_ticket_event_ticket_id ON ticket_event (ticket_id);
CREATE INDEX ix_ticket_grid_id ON ticket (grid_id);
CREATE INDEX ix_ticket_state ON ticket (state);
CREATE INDEX ix_visit_grid_id ON visit (grid_id);
CREATE INDEX ix_visit_household_id ON visit (household_id);
CREATE INDEX ix_visit_visited_on ON visit (visited_on);
CREATE INDEX ix_volunteer_team_community_id ON volunteer_team (community_id);
