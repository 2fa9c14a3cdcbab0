-- The training store (appended by the stream processor, read by the trainer) and the catalog
-- (movies and polls, upserted from catalog events and by the trainer's bootstrap).

CREATE TABLE interactions (
    event_id         uuid PRIMARY KEY,
    domain           text NOT NULL CHECK (domain IN ('movie', 'poll')),
    event_type       text NOT NULL,
    user_id          text NOT NULL,
    item_id          text NOT NULL,
    -- movie.rating: the rating; movie.view: watch seconds; otherwise NULL.
    value            double precision,
    -- poll.vote: the chosen option; otherwise NULL.
    option_id        text,
    occurred_at      timestamptz NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    -- Where the record was read from: for audits and replays, not for identity (event_id is).
    source_topic     text,
    source_partition integer,
    source_offset    bigint
);

-- The trainer reads one domain over a history window. (No per-user index: a user's recent history
-- is served from Redis, and every index costs the processor's insert rate.)
CREATE INDEX interactions_domain_time ON interactions (domain, occurred_at);

CREATE TABLE movies (
    item_id    text PRIMARY KEY,
    title      text NOT NULL,
    year       integer,
    genres     text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE polls (
    poll_id    text PRIMARY KEY,
    question   text NOT NULL,
    category   text NOT NULL,
    author     text,
    -- [{"id": "...", "text": "..."}] in the event's order.
    options    jsonb NOT NULL,
    created_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
