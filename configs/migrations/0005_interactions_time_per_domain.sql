-- The training store's time index, one per domain: `(occurred_at) WHERE domain = …` instead of
-- `(domain, occurred_at)`. Readers are unchanged (the trainer and the feature backfill ask for one domain
-- over a time range; their statements are planned with the domain's value, so each uses its domain's
-- index). Writers gain: events arrive about in time order, so each domain's keys land at its index's right
-- end (where PostgreSQL's rightmost-leaf fast path can take them), where in the composite index every
-- movie key went into the middle, below the poll keys, through a descent comparing text. The processor's
-- batch insert used 1–15 % less PostgreSQL CPU so (docs/benchmarks.md, issue 21). A new domain needs its
-- own index here, as it needs the CHECK on `domain` widened. On a large table the index builds block
-- inserts while they run (the migration runs when a service starts).

DROP INDEX interactions_domain_time;
CREATE INDEX interactions_movie_time ON interactions (occurred_at) WHERE domain = 'movie';
CREATE INDEX interactions_poll_time ON interactions (occurred_at) WHERE domain = 'poll';
