-- The audit trail: one hash chain per tenant (see internal/audit). No
-- foreign key to tenants: the trail outlives what it describes.
CREATE TABLE audit_log (
	tenant    TEXT COLLATE "C" NOT NULL,
	seq       BIGINT NOT NULL,
	time_ms   BIGINT NOT NULL,
	user_name TEXT COLLATE "C" NOT NULL DEFAULT '',
	role      TEXT COLLATE "C" NOT NULL DEFAULT '',
	ip        TEXT COLLATE "C" NOT NULL DEFAULT '',
	action    TEXT COLLATE "C" NOT NULL,
	target    TEXT COLLATE "C" NOT NULL DEFAULT '',
	details   TEXT COLLATE "C" NOT NULL DEFAULT '{}',
	outcome   TEXT COLLATE "C" NOT NULL DEFAULT '',
	prev_hash TEXT COLLATE "C" NOT NULL DEFAULT '',
	hash      TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_time ON audit_log (tenant, time_ms);
CREATE INDEX audit_user ON audit_log (tenant, user_name, seq);
CREATE INDEX audit_action ON audit_log (tenant, action, seq);
CREATE INDEX audit_target ON audit_log (tenant, target, seq);

-- Where each chain ends (the entry appended last) and where its stored
-- part starts (the last entry audit retention deleted).
CREATE TABLE audit_heads (
	tenant      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	seq         BIGINT NOT NULL DEFAULT 0,
	hash        TEXT COLLATE "C" NOT NULL DEFAULT '',
	pruned_seq  BIGINT NOT NULL DEFAULT 0,
	pruned_hash TEXT COLLATE "C" NOT NULL DEFAULT ''
);

CREATE TABLE legal_holds (
	tenant      TEXT COLLATE "C" NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id          TEXT COLLATE "C" NOT NULL,
	name        TEXT COLLATE "C" NOT NULL,
	reason      TEXT COLLATE "C" NOT NULL DEFAULT '',
	filter      TEXT COLLATE "C" NOT NULL DEFAULT '', -- JSON of vault.SearchFilter, '' = by ids only
	filter_query TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_by  TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_ms  BIGINT NOT NULL,
	released_by TEXT COLLATE "C" NOT NULL DEFAULT '',
	released_ms BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, id)
);

-- Recordings a hold names by id (each existed when the hold was made). No
-- foreign key to recordings: a held recording cannot be deleted, which the
-- store checks in the delete's own transaction.
CREATE TABLE legal_hold_recordings (
	tenant       TEXT COLLATE "C" NOT NULL,
	hold_id      TEXT COLLATE "C" NOT NULL,
	recording_id TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, hold_id, recording_id),
	FOREIGN KEY (tenant, hold_id) REFERENCES legal_holds (tenant, id) ON DELETE CASCADE
);
CREATE INDEX legal_hold_recordings_recording ON legal_hold_recordings (tenant, recording_id);

-- A backup client's word that it verified a copy of a media file.
CREATE TABLE backup_receipts (
	tenant       TEXT COLLATE "C" NOT NULL,
	recording_id TEXT COLLATE "C" NOT NULL,
	media_id     TEXT COLLATE "C" NOT NULL,
	sha256       TEXT COLLATE "C" NOT NULL,
	user_name    TEXT COLLATE "C" NOT NULL DEFAULT '',
	received_ms  BIGINT NOT NULL,
	PRIMARY KEY (tenant, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id, media_id) REFERENCES media (tenant, recording_id, media_id) ON DELETE CASCADE
);

-- Hashes of files a media row pointed to before a re-wrap: a receipt for
-- one of them still counts.
CREATE TABLE media_prior_hashes (
	tenant       TEXT COLLATE "C" NOT NULL,
	recording_id TEXT COLLATE "C" NOT NULL,
	media_id     TEXT COLLATE "C" NOT NULL,
	sha256       TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, recording_id, media_id, sha256),
	FOREIGN KEY (tenant, recording_id, media_id) REFERENCES media (tenant, recording_id, media_id) ON DELETE CASCADE
);

ALTER TABLE tenants ADD COLUMN require_backup BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE tenants ADD COLUMN max_backup_wait_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER NOT NULL DEFAULT 0;

-- Each job's own account of its work, beside the queue's row (river_job).
CREATE TABLE job_progress (
	job_id     BIGINT PRIMARY KEY,
	tenant     TEXT COLLATE "C" NOT NULL DEFAULT '',
	kind       TEXT COLLATE "C" NOT NULL,
	created_by TEXT COLLATE "C" NOT NULL DEFAULT '',
	done       BIGINT NOT NULL DEFAULT 0,
	total      BIGINT NOT NULL DEFAULT 0,
	failed     BIGINT NOT NULL DEFAULT 0,
	summary    TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL
);
CREATE INDEX job_progress_tenant ON job_progress (tenant, job_id);
