-- Leases let one of several replicas run a periodic job (the retention
-- sweep). With SQLite there is one machine, but the contract is the same.
CREATE TABLE leases (
	name     TEXT PRIMARY KEY,
	holder   TEXT NOT NULL,
	until_ms INTEGER NOT NULL
);
