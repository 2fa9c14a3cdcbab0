-- Catalog changes are announced on the `streamrec_catalog` channel (LISTEN/NOTIFY), so the inference API
-- re-reads titles, genres and poll questions as soon as a movie or poll is written, whoever wrote it
-- (the processor from catalog events, the trainer's bootstrap). The payload is `schema.table`: several
-- schemas may share a database, and a listener only refreshes for its own. One notification per
-- statement, and PostgreSQL folds identical ones within a transaction, so a bulk load sends a handful.

CREATE FUNCTION streamrec_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('streamrec_catalog', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER movies_changed AFTER INSERT OR UPDATE OR DELETE ON movies
    FOR EACH STATEMENT EXECUTE FUNCTION streamrec_catalog_changed();

CREATE TRIGGER polls_changed AFTER INSERT OR UPDATE OR DELETE ON polls
    FOR EACH STATEMENT EXECUTE FUNCTION streamrec_catalog_changed();
