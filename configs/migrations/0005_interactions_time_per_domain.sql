-- The training store's time index, one per domain: `(occurred_at) WHERE domain = …` instead of
-- `(domain, occurred_at)`. Readers are unchanged (the trainer and the feature backfill ask for one domain
-- over a time range; their statements are planned with the domain's value, so each uses its domain's
-- index). Writers gain: events arrive about in time order, so each domain's keys land at its index's right
-- end (where PostgreSQL's rightmost-leaf fast path can take them), where in the composite index every
-- movie key went into the middle, below the poll keys, through a descent comparing text. The processor's
-- batch insert used 1–15 % less PostgreSQL CPU so (docs/benchmarks.md, issue 21). A new domain needs its
-- index in a new migration, as it needs the CHECK on `domain` widened. A statement prepared once for every
-- domain (a generic plan) could not use these partial indexes; ours are planned with the value.
-- The statements run in one transaction: the builds block writes to `interactions` until it commits, and
-- the drop, last, blocks reads too for its moment. On a large table build both indexes beforehand with
-- `CREATE INDEX CONCURRENTLY` under these names (deploy/README.md): they are then kept as they are.

CREATE INDEX IF NOT EXISTS interactions_movie_time ON interactions (occurred_at) WHERE domain = 'movie';
CREATE INDEX IF NOT EXISTS interactions_poll_time ON interactions (occurred_at) WHERE domain = 'poll';
DROP INDEX IF EXISTS interactions_domain_time;
