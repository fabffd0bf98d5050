-- Speech analytics (internal/vault/analytics.go). A tenant's configuration
-- (settings, topics, categories, version) as one JSON document; '' until
-- first changed.
ALTER TABLE tenants ADD COLUMN analytics TEXT NOT NULL DEFAULT '';

-- Each recording's analysis, deleted with the recording.
CREATE TABLE analyses (
	rid                INTEGER PRIMARY KEY REFERENCES recordings (rid) ON DELETE CASCADE,
	status             TEXT    NOT NULL,
	version            INTEGER NOT NULL,
	longest_silence_ms INTEGER NOT NULL DEFAULT 0,
	analyzed_ms        INTEGER NOT NULL,
	doc                BLOB    NOT NULL
);

-- The topics and categories found in a recording, for search and trends.
CREATE TABLE analysis_terms (
	rid         INTEGER NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	kind        TEXT    NOT NULL, -- topic | category
	name        TEXT    NOT NULL,
	occurrences INTEGER NOT NULL,
	PRIMARY KEY (rid, kind, name)
) WITHOUT ROWID;
CREATE INDEX analysis_terms_name ON analysis_terms (kind, name, rid);
