-- The audit trail: one hash chain per tenant (see internal/audit). No
-- foreign key to tenants: the trail outlives what it describes.
CREATE TABLE audit_log (
	tenant    TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	time_ms   INTEGER NOT NULL,
	user_name TEXT    NOT NULL DEFAULT '',
	role      TEXT    NOT NULL DEFAULT '',
	ip        TEXT    NOT NULL DEFAULT '',
	action    TEXT    NOT NULL,
	target    TEXT    NOT NULL DEFAULT '',
	details   TEXT    NOT NULL DEFAULT '{}',
	outcome   TEXT    NOT NULL DEFAULT '',
	prev_hash TEXT    NOT NULL DEFAULT '',
	hash      TEXT    NOT NULL,
	PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE INDEX audit_time ON audit_log (tenant, time_ms);
CREATE INDEX audit_user ON audit_log (tenant, user_name, seq);
CREATE INDEX audit_action ON audit_log (tenant, action, seq);
CREATE INDEX audit_target ON audit_log (tenant, target, seq);

-- Where each chain ends (the entry appended last) and where its stored
-- part starts (the last entry audit retention deleted).
CREATE TABLE audit_heads (
	tenant      TEXT    NOT NULL PRIMARY KEY,
	seq         INTEGER NOT NULL DEFAULT 0,
	hash        TEXT    NOT NULL DEFAULT '',
	pruned_seq  INTEGER NOT NULL DEFAULT 0,
	pruned_hash TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE legal_holds (
	tenant      TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id          TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	filter      TEXT    NOT NULL DEFAULT '', -- JSON of vault.SearchFilter, '' = by ids only
	filter_query TEXT   NOT NULL DEFAULT '',
	created_by  TEXT    NOT NULL DEFAULT '',
	created_ms  INTEGER NOT NULL,
	released_by TEXT    NOT NULL DEFAULT '',
	released_ms INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

-- Recordings a hold names by id. No foreign key to recordings: a held
-- recording cannot be deleted, and a hold may name one before it arrives.
CREATE TABLE legal_hold_recordings (
	tenant       TEXT NOT NULL,
	hold_id      TEXT NOT NULL,
	recording_id TEXT NOT NULL,
	PRIMARY KEY (tenant, hold_id, recording_id),
	FOREIGN KEY (tenant, hold_id) REFERENCES legal_holds (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX legal_hold_recordings_recording ON legal_hold_recordings (tenant, recording_id);

-- A backup client's word that it verified a copy of a media file.
CREATE TABLE backup_receipts (
	tenant       TEXT    NOT NULL,
	recording_id TEXT    NOT NULL,
	media_id     TEXT    NOT NULL,
	sha256       TEXT    NOT NULL,
	user_name    TEXT    NOT NULL DEFAULT '',
	received_ms  INTEGER NOT NULL,
	PRIMARY KEY (tenant, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id, media_id) REFERENCES media (tenant, recording_id, media_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Hashes of files a media row pointed to before a re-wrap: a receipt for
-- one of them still counts.
CREATE TABLE media_prior_hashes (
	tenant       TEXT NOT NULL,
	recording_id TEXT NOT NULL,
	media_id     TEXT NOT NULL,
	sha256       TEXT NOT NULL,
	PRIMARY KEY (tenant, recording_id, media_id, sha256),
	FOREIGN KEY (tenant, recording_id, media_id) REFERENCES media (tenant, recording_id, media_id) ON DELETE CASCADE
) WITHOUT ROWID;

ALTER TABLE tenants ADD COLUMN require_backup INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN max_backup_wait_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER NOT NULL DEFAULT 0;

-- Each job's own account of its work, beside the queue's row (river_job).
CREATE TABLE job_progress (
	job_id     INTEGER PRIMARY KEY,
	tenant     TEXT    NOT NULL DEFAULT '',
	kind       TEXT    NOT NULL,
	created_by TEXT    NOT NULL DEFAULT '',
	done       INTEGER NOT NULL DEFAULT 0,
	total      INTEGER NOT NULL DEFAULT 0,
	failed     INTEGER NOT NULL DEFAULT 0,
	summary    TEXT    NOT NULL DEFAULT '',
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL
);
CREATE INDEX job_progress_tenant ON job_progress (tenant, job_id);
