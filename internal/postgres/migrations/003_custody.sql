-- The plaintext hash of each media file (computed at ingest; '' for files
-- stored before it was kept, and for pre-encrypted files no tenant key
-- opens).
ALTER TABLE media ADD COLUMN content_sha256 TEXT NOT NULL DEFAULT '';

-- MP3 is audio/mp3, the guide's type, however a recorder named it.
UPDATE media SET type = 'audio/mp3' WHERE type IN ('audio/mpeg', 'audio/x-mp3', 'audio/mpeg3');
UPDATE recordings SET media_types = array_replace(media_types, 'audio/mpeg', 'audio/mp3') WHERE 'audio/mpeg' = ANY (media_types);
INSERT INTO recording_terms (rid, kind, value)
	SELECT rid, 'm', 'audio/mp3' FROM recording_terms WHERE kind = 'm' AND value = 'audio/mpeg'
	ON CONFLICT DO NOTHING;
DELETE FROM recording_terms WHERE kind = 'm' AND value = 'audio/mpeg';

-- Users: the guide's agent records have names.
ALTER TABLE users ADD COLUMN first_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN last_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;

-- A user's sessions end together (password or role change, disabling).
CREATE INDEX sessions_user ON sessions (tenant, user_name);

-- Retention is whole days: a period stored in part days by an earlier
-- version is rounded up, as the settings show it, so that what is shown is
-- what the sweeper applies.
UPDATE tenants SET retention_ms = ((retention_ms + 86399999) / 86400000) * 86400000 WHERE retention_ms % 86400000 <> 0;
