-- Leases let one of several replicas run a periodic job (the retention
-- sweep) at a time.
CREATE TABLE leases (
	name     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	holder   TEXT COLLATE "C" NOT NULL,
	until_ms BIGINT NOT NULL
);
