-- Screen recording (internal/vault/screen.go). Which calls a tenant's
-- agents' screens are recorded for: 'voice' or 'off'.
ALTER TABLE tenants ADD COLUMN screen_when TEXT NOT NULL DEFAULT 'voice';

-- Each agent's srs: when it last asked for commands, and the last
-- command's sequence number (the channel's position).
CREATE TABLE screen_agents (
	tenant    TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
	user_name TEXT    NOT NULL,
	seen_ms   INTEGER NOT NULL DEFAULT 0,
	seq       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, user_name)
) WITHOUT ROWID;

-- The screen recordings asked of agents; a row also lets its agent upload
-- that one media file. Deleted with the recording.
CREATE TABLE screen_captures (
	tenant       TEXT    NOT NULL,
	recording_id TEXT    NOT NULL,
	media_id     TEXT    NOT NULL,
	user_name    TEXT    NOT NULL,
	started_ms   INTEGER NOT NULL,
	stopped_ms   INTEGER NOT NULL DEFAULT 0,
	reason       TEXT    NOT NULL DEFAULT '',
	paused       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, recording_id, media_id),
	FOREIGN KEY (tenant, recording_id) REFERENCES recordings (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
-- One open capture per agent.
CREATE UNIQUE INDEX screen_captures_open ON screen_captures (tenant, user_name) WHERE stopped_ms = 0;

-- Each agent's command channel; old commands are pruned as new ones come.
CREATE TABLE screen_commands (
	tenant       TEXT    NOT NULL,
	user_name    TEXT    NOT NULL,
	seq          INTEGER NOT NULL,
	command      TEXT    NOT NULL,
	recording_id TEXT    NOT NULL,
	media_id     TEXT    NOT NULL,
	issued_ms    INTEGER NOT NULL,
	PRIMARY KEY (tenant, user_name, seq),
	FOREIGN KEY (tenant, user_name) REFERENCES screen_agents (tenant, user_name) ON DELETE CASCADE
) WITHOUT ROWID;
