-- Speech analytics (internal/vault/analytics.go). A tenant's configuration
-- (settings, topics, categories, version) as one JSON document; '' until
-- first changed.
ALTER TABLE tenants ADD COLUMN analytics TEXT NOT NULL DEFAULT '';

-- Each recording's analysis, deleted with the recording. The document is
-- BYTEA like the recordings' own: its bytes come back as given.
CREATE TABLE analyses (
	rid                BIGINT PRIMARY KEY REFERENCES recordings (rid) ON DELETE CASCADE,
	status             TEXT COLLATE "C" NOT NULL,
	version            BIGINT NOT NULL,
	longest_silence_ms BIGINT NOT NULL DEFAULT 0,
	analyzed_ms        BIGINT NOT NULL,
	doc                BYTEA NOT NULL
);

-- The topics and categories found in a recording, for search and trends.
CREATE TABLE analysis_terms (
	rid         BIGINT NOT NULL REFERENCES recordings (rid) ON DELETE CASCADE,
	kind        TEXT COLLATE "C" NOT NULL, -- topic | category
	name        TEXT COLLATE "C" NOT NULL,
	occurrences BIGINT NOT NULL,
	PRIMARY KEY (rid, kind, name)
);
CREATE INDEX analysis_terms_name ON analysis_terms (kind, name, rid);
