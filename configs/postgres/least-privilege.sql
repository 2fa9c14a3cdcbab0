-- Least privilege for the services, on the schema this session uses (its search_path). Run it as the
-- schema's owner after the migrations (the services apply missing migrations at start; with these roles
-- they find none missing and need no DDL). The login roles are made by whoever administers the cluster
-- (the local stack: scripts/stack.sh; elsewhere, e.g.
--   CREATE ROLE streamrec_api LOGIN PASSWORD '…';   and the same for streamrec_processor, streamrec_trainer)
-- and each service then connects as its own role (postgres.user / STREAMREC_POSTGRES_USER).
--
--   stream-processor: appends interactions, upserts the catalog from catalog events
--   trainer:          bootstraps data (interactions + catalog), reads them, writes the model registry
--   inference-api:    reads the catalog and the model registry
-- None of them may drop, alter or delete anything; `TEMPORARY` (the bulk loads' staging table) is
-- PUBLIC's by default. Tested by LeastPrivilegeTests.
DO $$
DECLARE
    target text := current_schema();
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO streamrec_processor, streamrec_trainer, streamrec_api', target);
    EXECUTE format('GRANT SELECT ON %I.schema_migrations TO streamrec_processor, streamrec_trainer, streamrec_api', target);
    EXECUTE format('GRANT SELECT, INSERT ON %I.interactions TO streamrec_processor, streamrec_trainer', target);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.movies, %I.polls TO streamrec_processor, streamrec_trainer', target, target);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.model_registry TO streamrec_trainer', target);
    EXECUTE format('GRANT SELECT ON %I.movies, %I.polls, %I.model_registry TO streamrec_api', target, target, target);
END
$$;
