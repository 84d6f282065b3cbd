-- +goose Up
-- The knowledge base (ticketing.Article): the current version of each
-- article, named by department and question, and every version kept.
-- rev orders the writes for the search index that follows the table.
-- As in the PostgreSQL store's migration 00025; times are INTEGER
-- microseconds since the Unix epoch.
CREATE TABLE kb_articles (
    id          integer PRIMARY KEY,
    rev         bigint NOT NULL,
    version     integer NOT NULL,
    question    text NOT NULL,
    aliases     text NOT NULL DEFAULT '[]',
    answer      text NOT NULL,
    category    text NOT NULL DEFAULT '',
    department  text NOT NULL,
    area        text NOT NULL DEFAULT '',
    valid_from  integer,
    valid_until integer,
    source      text NOT NULL DEFAULT '',
    status      text NOT NULL,
    updated_by  text NOT NULL DEFAULT '',
    created_at  integer NOT NULL,
    updated_at  integer NOT NULL,
    UNIQUE (department, question)
);
CREATE INDEX kb_articles_rev ON kb_articles (rev, id);
CREATE TABLE kb_article_versions (
    article_id  bigint NOT NULL REFERENCES kb_articles (id),
    version     integer NOT NULL,
    rev         bigint NOT NULL,
    question    text NOT NULL,
    aliases     text NOT NULL,
    answer      text NOT NULL,
    category    text NOT NULL,
    department  text NOT NULL,
    area        text NOT NULL,
    valid_from  integer,
    valid_until integer,
    source      text NOT NULL,
    status      text NOT NULL,
    updated_by  text NOT NULL,
    created_at  integer NOT NULL,
    updated_at  integer NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- The article an agent answered a call with (直办), or that a citizen saw
-- before asking for a ticket anyway (ticketing.Ticket.Article), and the
-- indicators by article.
ALTER TABLE tickets ADD COLUMN article integer NOT NULL DEFAULT 0;
ALTER TABLE indicator_tallies ADD COLUMN article text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE indicator_tallies DROP COLUMN article;
ALTER TABLE tickets DROP COLUMN article;
DROP TABLE kb_article_versions;
DROP TABLE kb_articles;
