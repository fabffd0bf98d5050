-- The schema of the sqlite store, in PostgreSQL's terms, so that both
-- stores behave alike under one conformance suite.
--
-- Times are Unix milliseconds in UTC (BIGINT); 0 means "not known" (the
-- zero time), which sorts first, as in SQLite. Names and ids are
-- COLLATE "C" so that ORDER BY, keyset cursors and comparisons are bytewise,
-- whatever the database's default collation. Lists that only come back
-- whole are TEXT[]; lists that searches and the access rule look into are
-- also rows of recording_terms. Documents and sealed keys are BYTEA: their
-- bytes come back exactly as given.

CREATE TABLE tenants (
	name         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	retention_ms BIGINT NOT NULL DEFAULT 0,
	created_ms   BIGINT NOT NULL
);

CREATE TABLE users (
	tenant          TEXT COLLATE "C" NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	name            TEXT COLLATE "C" NOT NULL,
	roles           TEXT[] NOT NULL DEFAULT '{}',
	agent_hierarchy TEXT NOT NULL DEFAULT '',
	access_groups   TEXT[] NOT NULL DEFAULT '{}',
	password_hash   TEXT NOT NULL DEFAULT '',
	created_ms      BIGINT NOT NULL,
	updated_ms      BIGINT NOT NULL,
	PRIMARY KEY (tenant, name)
);

CREATE TABLE certificates (
	tenant        TEXT COLLATE "C" NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	alias         TEXT COLLATE "C" NOT NULL,
	subject_name  TEXT NOT NULL DEFAULT '',
	serial_number TEXT NOT NULL DEFAULT '',
	subject_dn    TEXT NOT NULL DEFAULT '',
	issuer_dn     TEXT NOT NULL DEFAULT '',
	not_before_ms BIGINT NOT NULL DEFAULT 0,
	expires_ms    BIGINT NOT NULL DEFAULT 0,
	fingerprint   TEXT NOT NULL DEFAULT '',
	key_bits      INTEGER NOT NULL DEFAULT 0,
	usage         TEXT[] NOT NULL DEFAULT '{}',
	cert_pem      TEXT NOT NULL DEFAULT '',
	created_ms    BIGINT NOT NULL,
	PRIMARY KEY (tenant, alias)
);

-- rid is a compact key for recording_terms; (tenant, id) is the real one.
CREATE TABLE recordings (
	rid           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant        TEXT COLLATE "C" NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id            TEXT COLLATE "C" NOT NULL,
	start_ms      BIGINT NOT NULL DEFAULT 0,
	stop_ms       BIGINT NOT NULL DEFAULT 0,
	caller        TEXT COLLATE "C" NOT NULL DEFAULT '',
	dialed        TEXT COLLATE "C" NOT NULL DEFAULT '',
	agents        TEXT[] NOT NULL DEFAULT '{}',
	access_groups TEXT[] NOT NULL DEFAULT '{}',
	partitions    TEXT[] NOT NULL DEFAULT '{}',
	media_types   TEXT[] NOT NULL DEFAULT '{}',
	doc           BYTEA,
	created_ms    BIGINT NOT NULL,
	updated_ms    BIGINT NOT NULL,
	UNIQUE (tenant, id)
);
-- Search order and keyset paging.
CREATE INDEX recordings_start ON recordings (tenant, start_ms, id);
-- Retention.
CREATE INDEX recordings_stop ON recordings (tenant, stop_ms);

-- What search filters and the access rule match on, one row per value:
-- kind 'a' agent, 'g' access group, 'p' partition, 'm' media type.
CREATE TABLE recording_terms (
	rid   BIGINT NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	kind  TEXT COLLATE "C" NOT NULL,
	value TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (rid, kind, value)
);
CREATE INDEX recording_terms_value ON recording_terms (kind, value, rid);

CREATE TABLE media (
	tenant       TEXT COLLATE "C" NOT NULL,
	recording_id TEXT COLLATE "C" NOT NULL,
	media_id     TEXT COLLATE "C" NOT NULL,
	type         TEXT NOT NULL DEFAULT '',
	encrypted    BOOLEAN NOT NULL DEFAULT false,
	cert_aliases TEXT[] NOT NULL DEFAULT '{}',
	size         BIGINT NOT NULL DEFAULT 0,
	sha256       TEXT NOT NULL DEFAULT '',
	blob_key     TEXT NOT NULL DEFAULT '',
	created_ms   BIGINT NOT NULL,
	PRIMARY KEY (tenant, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id) REFERENCES recordings (tenant, id) ON DELETE CASCADE
);

-- One row per (media file, certificate) so that DeployedCount and the
-- delete check are an index lookup, not a scan of arrays.
CREATE TABLE media_certs (
	tenant       TEXT COLLATE "C" NOT NULL,
	alias        TEXT COLLATE "C" NOT NULL,
	recording_id TEXT COLLATE "C" NOT NULL,
	media_id     TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, alias, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id, media_id) REFERENCES media (tenant, recording_id, media_id) ON DELETE CASCADE
);
-- The foreign key's child index, so cascading deletes do not scan.
CREATE INDEX media_certs_media ON media_certs (tenant, recording_id, media_id);

-- No foreign key to tenants: the keystore may hold keys of a tenant that
-- is being set up, as the keystore's own backends allow.
CREATE TABLE sealed_keys (
	tenant TEXT COLLATE "C" NOT NULL,
	alias  TEXT COLLATE "C" NOT NULL,
	sealed BYTEA NOT NULL,
	PRIMARY KEY (tenant, alias)
);

CREATE TABLE sessions (
	token_hash TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant     TEXT COLLATE "C" NOT NULL,
	user_name  TEXT COLLATE "C" NOT NULL,
	csrf_token TEXT NOT NULL,
	expires_ms BIGINT NOT NULL
);
