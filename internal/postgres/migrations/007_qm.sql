-- Quality management (internal/vault/qm.go), as in the sqlite store. Each
-- row keeps its whole object as a JSON document (BYTEA: its bytes come
-- back as given); the columns beside it are what lists, filters, the
-- visibility rule and the reports look at.

-- A form's working draft; latest_version is its newest published version
-- (0: never published).
CREATE TABLE qm_forms (
	tenant         TEXT COLLATE "C" NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id             TEXT COLLATE "C" NOT NULL,
	name           TEXT NOT NULL,
	description    TEXT NOT NULL DEFAULT '',
	doc            BYTEA NOT NULL,
	latest_version INTEGER NOT NULL DEFAULT 0,
	updated_by     TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_ms     BIGINT NOT NULL,
	updated_ms     BIGINT NOT NULL,
	PRIMARY KEY (tenant, id)
);

-- Published versions: written once, never changed.
CREATE TABLE qm_form_versions (
	tenant       TEXT COLLATE "C" NOT NULL,
	form_id      TEXT COLLATE "C" NOT NULL,
	version      INTEGER NOT NULL,
	name         TEXT NOT NULL,
	doc          BYTEA NOT NULL,
	published_by TEXT COLLATE "C" NOT NULL DEFAULT '',
	published_ms BIGINT NOT NULL,
	PRIMARY KEY (tenant, form_id, version),
	FOREIGN KEY (tenant, form_id) REFERENCES qm_forms (tenant, id) ON DELETE CASCADE
);

-- Evaluations go with their recording (retention, DELETE). submitted_ms
-- is 0 until submitted; total and critical are NULL when nothing counts.
CREATE TABLE qm_evaluations (
	eid            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant         TEXT COLLATE "C" NOT NULL,
	id             TEXT COLLATE "C" NOT NULL,
	rid            BIGINT NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	agent          TEXT COLLATE "C" NOT NULL DEFAULT '',
	team           TEXT COLLATE "C" NOT NULL DEFAULT '',
	evaluator      TEXT COLLATE "C" NOT NULL DEFAULT '',
	form_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
	version        INTEGER NOT NULL DEFAULT 0,
	kind           TEXT COLLATE "C" NOT NULL,
	calibration_id TEXT COLLATE "C" NOT NULL DEFAULT '',
	plan_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
	supersedes     TEXT COLLATE "C" NOT NULL DEFAULT '',
	state          TEXT COLLATE "C" NOT NULL,
	total          DOUBLE PRECISION,
	critical       DOUBLE PRECISION,
	fatal          BOOLEAN NOT NULL DEFAULT false,
	created_ms     BIGINT NOT NULL,
	updated_ms     BIGINT NOT NULL,
	submitted_ms   BIGINT NOT NULL DEFAULT 0,
	week_ms        BIGINT NOT NULL DEFAULT 0, -- the week (from Monday, UTC) of submitted_ms
	month_ms       BIGINT NOT NULL DEFAULT 0, -- its month
	doc            BYTEA NOT NULL,
	UNIQUE (tenant, id)
);
-- The list, newest first, and keyset paging; the visibility rule's
-- columns with it, so a viewer who sees few rows costs no heap lookups.
CREATE INDEX qm_evaluations_created ON qm_evaluations (tenant, created_ms DESC, id DESC)
	INCLUDE (agent, evaluator, kind, state, rid);
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
-- without sorting.
CREATE INDEX qm_evaluations_states ON qm_evaluations (tenant, kind, state, created_ms)
	INCLUDE (agent, evaluator, rid);
-- The report by week and by month: GROUP BY (interval, agent, team) in
-- index order, without sorting the rows.
CREATE INDEX qm_evaluations_weeks ON qm_evaluations (tenant, kind, week_ms, agent, team)
	INCLUDE (submitted_ms, state, total, critical, fatal, evaluator, rid);
CREATE INDEX qm_evaluations_months ON qm_evaluations (tenant, kind, month_ms, agent, team)
	INCLUDE (submitted_ms, state, total, critical, fatal, evaluator, rid);
-- Covers ScoreBuckets, the visibility rule's own columns included.
CREATE INDEX qm_evaluations_scores ON qm_evaluations (tenant, kind, submitted_ms)
	INCLUDE (agent, team, state, total, critical, fatal, evaluator, rid);

-- Calibrations go with their recording too.
CREATE TABLE qm_calibrations (
	tenant     TEXT COLLATE "C" NOT NULL,
	id         TEXT COLLATE "C" NOT NULL,
	rid        BIGINT NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	created_ms BIGINT NOT NULL,
	doc        BYTEA NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX qm_calibrations_created ON qm_calibrations (tenant, created_ms DESC, id DESC);
CREATE INDEX qm_calibrations_rid ON qm_calibrations (rid);

CREATE TABLE qm_plans (
	tenant     TEXT COLLATE "C" NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id         TEXT COLLATE "C" NOT NULL,
	created_ms BIGINT NOT NULL,
	doc        BYTEA NOT NULL,
	PRIMARY KEY (tenant, id)
);
