-- Times are Unix milliseconds in UTC; 0 means "not known" (the zero time).
-- Lists that only need to come back whole (roles, usage, certificate
-- aliases of a media file) are JSON arrays in TEXT; lists that searches
-- and the access rule look into are also rows of recording_terms.

CREATE TABLE tenants (
	name         TEXT    NOT NULL PRIMARY KEY,
	retention_ms INTEGER NOT NULL DEFAULT 0,
	created_ms   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
	tenant          TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	name            TEXT    NOT NULL,
	roles           TEXT    NOT NULL DEFAULT '[]',
	agent_hierarchy TEXT    NOT NULL DEFAULT '',
	access_groups   TEXT    NOT NULL DEFAULT '[]',
	password_hash   TEXT    NOT NULL DEFAULT '',
	created_ms      INTEGER NOT NULL,
	updated_ms      INTEGER NOT NULL,
	PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

CREATE TABLE certificates (
	tenant        TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	alias         TEXT    NOT NULL,
	subject_name  TEXT    NOT NULL DEFAULT '',
	serial_number TEXT    NOT NULL DEFAULT '',
	subject_dn    TEXT    NOT NULL DEFAULT '',
	issuer_dn     TEXT    NOT NULL DEFAULT '',
	not_before_ms INTEGER NOT NULL DEFAULT 0,
	expires_ms    INTEGER NOT NULL DEFAULT 0,
	fingerprint   TEXT    NOT NULL DEFAULT '',
	key_bits      INTEGER NOT NULL DEFAULT 0,
	usage         TEXT    NOT NULL DEFAULT '[]',
	cert_pem      TEXT    NOT NULL DEFAULT '',
	created_ms    INTEGER NOT NULL,
	PRIMARY KEY (tenant, alias)
) WITHOUT ROWID;

-- rid is a compact key for recording_terms; (tenant, id) is the real one.
CREATE TABLE recordings (
	rid           INTEGER PRIMARY KEY,
	tenant        TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	id            TEXT    NOT NULL,
	start_ms      INTEGER NOT NULL DEFAULT 0,
	stop_ms       INTEGER NOT NULL DEFAULT 0,
	caller        TEXT    NOT NULL DEFAULT '',
	dialed        TEXT    NOT NULL DEFAULT '',
	agents        TEXT    NOT NULL DEFAULT '[]',
	access_groups TEXT    NOT NULL DEFAULT '[]',
	partitions    TEXT    NOT NULL DEFAULT '[]',
	media_types   TEXT    NOT NULL DEFAULT '[]',
	doc           BLOB,
	created_ms    INTEGER NOT NULL,
	updated_ms    INTEGER NOT NULL,
	UNIQUE (tenant, id)
);
-- Search order and keyset paging.
CREATE INDEX recordings_start ON recordings (tenant, start_ms, id);
-- Retention.
CREATE INDEX recordings_stop ON recordings (tenant, stop_ms);

-- What search filters and the access rule match on, one row per value:
-- kind 'a' agent, 'g' access group, 'p' partition, 'm' media type.
CREATE TABLE recording_terms (
	rid   INTEGER NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	kind  TEXT    NOT NULL,
	value TEXT    NOT NULL,
	PRIMARY KEY (rid, kind, value)
) WITHOUT ROWID;
CREATE INDEX recording_terms_value ON recording_terms (kind, value, rid);

CREATE TABLE media (
	tenant       TEXT    NOT NULL,
	recording_id TEXT    NOT NULL,
	media_id     TEXT    NOT NULL,
	type         TEXT    NOT NULL DEFAULT '',
	encrypted    INTEGER NOT NULL DEFAULT 0,
	cert_aliases TEXT    NOT NULL DEFAULT '[]',
	size         INTEGER NOT NULL DEFAULT 0,
	sha256       TEXT    NOT NULL DEFAULT '',
	blob_key     TEXT    NOT NULL DEFAULT '',
	created_ms   INTEGER NOT NULL,
	PRIMARY KEY (tenant, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id) REFERENCES recordings (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- One row per (media file, certificate) so that DeployedCount and the
-- delete check are an index lookup, not a scan of JSON.
CREATE TABLE media_certs (
	tenant       TEXT NOT NULL,
	alias        TEXT NOT NULL,
	recording_id TEXT NOT NULL,
	media_id     TEXT NOT NULL,
	PRIMARY KEY (tenant, alias, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id, media_id) REFERENCES media (tenant, recording_id, media_id) ON DELETE CASCADE
) WITHOUT ROWID;
-- The foreign key's child index, so cascading deletes do not scan.
CREATE INDEX media_certs_media ON media_certs (tenant, recording_id, media_id);

-- No foreign key to tenants: the keystore may hold keys of a tenant that
-- is being set up, as the keystore's own backends allow.
CREATE TABLE sealed_keys (
	tenant TEXT NOT NULL,
	alias  TEXT NOT NULL,
	sealed BLOB NOT NULL,
	PRIMARY KEY (tenant, alias)
) WITHOUT ROWID;

CREATE TABLE sessions (
	token_hash TEXT    NOT NULL PRIMARY KEY,
	tenant     TEXT    NOT NULL,
	user_name  TEXT    NOT NULL,
	csrf_token TEXT    NOT NULL,
	expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
