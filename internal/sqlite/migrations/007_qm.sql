-- Quality management (internal/vault/qm.go). Each row keeps its whole
-- object as a JSON document; the columns beside it are what lists,
-- filters, the visibility rule and the reports look at.

-- A form's working draft; latest_version is its newest published version
-- (0: never published).
CREATE TABLE qm_forms (
	tenant         TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id             TEXT    NOT NULL,
	name           TEXT    NOT NULL,
	description    TEXT    NOT NULL DEFAULT '',
	doc            BLOB    NOT NULL,
	latest_version INTEGER NOT NULL DEFAULT 0,
	updated_by     TEXT    NOT NULL DEFAULT '',
	created_ms     INTEGER NOT NULL,
	updated_ms     INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

-- Published versions: written once, never changed.
CREATE TABLE qm_form_versions (
	tenant       TEXT    NOT NULL,
	form_id      TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	name         TEXT    NOT NULL,
	doc          BLOB    NOT NULL,
	published_by TEXT    NOT NULL DEFAULT '',
	published_ms INTEGER NOT NULL,
	PRIMARY KEY (tenant, form_id, version),
	FOREIGN KEY (tenant, form_id) REFERENCES qm_forms (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Evaluations go with their recording (retention, DELETE). submitted_ms
-- is 0 until submitted; total and critical are NULL when nothing counts.
CREATE TABLE qm_evaluations (
	eid            INTEGER PRIMARY KEY,
	tenant         TEXT    NOT NULL,
	id             TEXT    NOT NULL,
	rid            INTEGER NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	agent          TEXT    NOT NULL DEFAULT '',
	team           TEXT    NOT NULL DEFAULT '',
	evaluator      TEXT    NOT NULL DEFAULT '',
	form_id        TEXT    NOT NULL DEFAULT '',
	version        INTEGER NOT NULL DEFAULT 0,
	kind           TEXT    NOT NULL,
	calibration_id TEXT    NOT NULL DEFAULT '',
	plan_id        TEXT    NOT NULL DEFAULT '',
	supersedes     TEXT    NOT NULL DEFAULT '',
	state          TEXT    NOT NULL,
	total          REAL,
	critical       REAL,
	fatal          INTEGER NOT NULL DEFAULT 0,
	created_ms     INTEGER NOT NULL,
	updated_ms     INTEGER NOT NULL,
	submitted_ms   INTEGER NOT NULL DEFAULT 0,
	week_ms        INTEGER NOT NULL DEFAULT 0, -- the week (from Monday, UTC) of submitted_ms
	month_ms       INTEGER NOT NULL DEFAULT 0, -- its month
	doc            BLOB    NOT NULL,
	UNIQUE (tenant, id)
);
-- The list, newest first, and keyset paging; the visibility rule's
-- columns with it, so a viewer who sees few rows costs no table lookups.
CREATE INDEX qm_evaluations_created ON qm_evaluations
	(tenant, created_ms DESC, id DESC, agent, evaluator, kind, state, rid);
CREATE INDEX qm_evaluations_agent ON qm_evaluations (tenant, agent, created_ms, id);
CREATE INDEX qm_evaluations_evaluator ON qm_evaluations (tenant, evaluator, created_ms, id);
-- A recording's evaluations, and the cascade of its deletion.
CREATE INDEX qm_evaluations_rid ON qm_evaluations (rid);
CREATE INDEX qm_evaluations_calibration ON qm_evaluations (tenant, calibration_id);
CREATE INDEX qm_evaluations_plan ON qm_evaluations (tenant, plan_id, rid);
-- A plan never evaluates one recording twice (a rescore replaces, so it
-- does not count).
CREATE UNIQUE INDEX qm_evaluations_plan_once ON qm_evaluations (tenant, plan_id, rid)
	WHERE plan_id <> '' AND supersedes = '';
-- Covers the report's counts by state: GROUP BY state reads it in order,
-- one range per state, without sorting.
CREATE INDEX qm_evaluations_states ON qm_evaluations (tenant, kind, state, created_ms, agent, evaluator, rid);
-- The report by week and by month: GROUP BY (interval, agent, team) in
-- index order, so SQLite sums the rows as it reads them.
CREATE INDEX qm_evaluations_weeks ON qm_evaluations
	(tenant, kind, week_ms, agent, team, submitted_ms, state, total, critical, fatal, evaluator, rid);
CREATE INDEX qm_evaluations_months ON qm_evaluations
	(tenant, kind, month_ms, agent, team, submitted_ms, state, total, critical, fatal, evaluator, rid);
-- Covers ScoreBuckets, the visibility rule's own columns included.
CREATE INDEX qm_evaluations_scores ON qm_evaluations
	(tenant, kind, submitted_ms, agent, team, state, total, critical, fatal, evaluator, rid);

-- Calibrations go with their recording too.
CREATE TABLE qm_calibrations (
	tenant     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	rid        INTEGER NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	created_ms INTEGER NOT NULL,
	doc        BLOB    NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX qm_calibrations_created ON qm_calibrations (tenant, created_ms DESC, id DESC);
CREATE INDEX qm_calibrations_rid ON qm_calibrations (rid);

CREATE TABLE qm_plans (
	tenant     TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id         TEXT    NOT NULL,
	created_ms INTEGER NOT NULL,
	doc        BLOB    NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
