-- DuckDB views over an otds-highspot artifact store.
--
-- Replace ${root} with the store root, without a trailing slash:
--   an absolute local folder   /var/lib/otds-highspot/artifacts
--   an S3 prefix               s3://bucket/prefix
-- e.g.   root=/srv/artifacts envsubst '${root}' < views.sql | duckdb otds.duckdb
-- or     sed "s#\${root}#s3://bucket/prefix#g" views.sql > my-views.sql
--
-- For S3, load httpfs and give DuckDB credentials first (see README.md):
--   INSTALL httpfs; LOAD httpfs;
--   CREATE SECRET otds (TYPE s3, PROVIDER credential_chain, REGION 'eu-west-1');
--
-- Every statement stands alone. DuckDB checks a glob when the view is
-- created, so the view of a table that has no file yet (a stage that never
-- ran, or a table that was always empty: empty tables write no part file)
-- fails with "No files found that match the pattern"; the DuckDB CLI reports
-- it and goes on with the next statement. Re-run the file once the table has
-- data.
--
-- Table views show only PUBLISHED data: part files listed by a stage
-- manifest. Part files of a crashed or running attempt (no manifest yet) are
-- left out. Each row carries the partition columns dt (DATE, the run's date)
-- and run_id (VARCHAR). Timestamps are TIMESTAMP WITH TIME ZONE (µs, UTC);
-- lists are VARCHAR[]; maps are MAP(VARCHAR, VARCHAR) or
-- MAP(VARCHAR, VARCHAR[]). docs/tables.md documents every column.

-- Every stage manifest: one row per (run, stage).
CREATE OR REPLACE VIEW stage_manifests AS
SELECT run_id, stage, status, try_cast(created_at AS TIMESTAMPTZ) AS created_at,
       program_version, config_hash, host, tables, summary_json
FROM (
    SELECT *, json(summary) AS summary_json
    FROM read_json('${root}/_runs/*/*.manifest.json',
        format = 'auto',
        columns = {
            format: 'VARCHAR', run_id: 'VARCHAR', stage: 'VARCHAR', status: 'VARCHAR',
            created_at: 'VARCHAR', program_version: 'VARCHAR', config_hash: 'VARCHAR', host: 'VARCHAR',
            tables: 'MAP(VARCHAR, STRUCT(schema VARCHAR, schema_version INTEGER, "rows" BIGINT, files STRUCT("key" VARCHAR, sha256 VARCHAR, bytes BIGINT, "rows" BIGINT)[]))',
            summary: 'JSON'
        })
    WHERE format = 'otds-highspot/stage-manifest/v1'
);

-- Every data file a manifest lists: the files the table views read.
CREATE OR REPLACE VIEW published_files AS
SELECT m.run_id, m.stage, m.status, e.t.key AS table_name, e.t.value.schema_version AS schema_version,
       f."key" AS "key", '${root}/' || f."key" AS path, f."rows" AS "rows", f.bytes AS bytes, f.sha256 AS sha256
FROM stage_manifests AS m,
     unnest(map_entries(m.tables)) AS e(t),
     unnest(e.t.value.files) AS g(f);

-- Runs and the stages each published.
CREATE OR REPLACE VIEW runs AS
SELECT run_id, min(created_at) AS first_commit, max(created_at) AS last_commit,
       list(stage ORDER BY stage) AS stages,
       list(stage ORDER BY stage) FILTER (WHERE status <> 'published') AS not_published
FROM stage_manifests
GROUP BY run_id;

-- accounts: raw user entries as read from each OTDS tree (stage extract.<tree>).
CREATE OR REPLACE VIEW "accounts" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/accounts/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'accounts');

-- groups: raw group entries (stage extract.<tree>).
CREATE OR REPLACE VIEW "groups" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/groups/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'groups');

-- memberships: direct group memberships (oTMember) (stage extract.<tree>).
CREATE OR REPLACE VIEW "memberships" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/memberships/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'memberships');

-- rejects: entries and values that could not be published (stage extract.<tree>).
CREATE OR REPLACE VIEW "rejects" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/rejects/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'rejects');

-- accounts_normalized: accounts after normalization (stage transform).
CREATE OR REPLACE VIEW "accounts_normalized" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/accounts_normalized/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'accounts_normalized');

-- effective_memberships: (account, group) pairs after nested groups are expanded (stage transform).
CREATE OR REPLACE VIEW "effective_memberships" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/effective_memberships/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'effective_memberships');

-- persons: resolved people across trees (stage transform).
CREATE OR REPLACE VIEW "persons" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/persons/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'persons');

-- person_links: which person each account joined, and why (stage transform).
CREATE OR REPLACE VIEW "person_links" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/person_links/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'person_links');

-- match_review: candidate merges that need a human (stage transform).
CREATE OR REPLACE VIEW "match_review" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/match_review/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'match_review');

-- highspot_users: users as read back from Highspot (stage pull).
CREATE OR REPLACE VIEW "highspot_users" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/highspot_users/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'highspot_users');

-- highspot_groups: groups as read back from Highspot (stage pull).
CREATE OR REPLACE VIEW "highspot_groups" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/highspot_groups/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'highspot_groups');

-- drift: differences between Highspot and the directory (stage pull).
CREATE OR REPLACE VIEW "drift" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/drift/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'drift');

-- desired_users: the state the policy wants per in-scope person (stage plan).
CREATE OR REPLACE VIEW "desired_users" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/desired_users/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'desired_users');

-- changes: planned operations against Highspot (stage plan).
CREATE OR REPLACE VIEW "changes" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/changes/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'changes');

-- load_results: the apply ledger: one row per change attempted (stage apply).
CREATE OR REPLACE VIEW "load_results" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/load_results/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'load_results');

-- identity_history: SCD type 2 of every person's attributes and access (stage history).
CREATE OR REPLACE VIEW "identity_history" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/identity_history/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'identity_history');

-- access_history: SCD type 2 of what Highspot held after each run (stage history).
CREATE OR REPLACE VIEW "access_history" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/access_history/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'access_history');

-- access_review: every Highspot user, each group held and why (stage review).
CREATE OR REPLACE VIEW "access_review" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/access_review/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'access_review');

-- analytics_persons: persons with PII columns replaced by keyed-hash tokens (stage analytics).
CREATE OR REPLACE VIEW "analytics_persons" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/analytics_persons/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'analytics_persons');

-- analytics_accounts_normalized: accounts_normalized with PII columns tokenized (stage analytics).
CREATE OR REPLACE VIEW "analytics_accounts_normalized" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/analytics_accounts_normalized/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'analytics_accounts_normalized');

-- analytics_person_links: person_links with PII columns tokenized (stage analytics).
CREATE OR REPLACE VIEW "analytics_person_links" AS
SELECT * EXCLUDE (filename)
FROM read_parquet('${root}/analytics_person_links/*/*/*.parquet',
    hive_partitioning = true, hive_types = {'dt': DATE, 'run_id': VARCHAR}, filename = true)
WHERE filename IN (SELECT path FROM published_files WHERE table_name = 'analytics_person_links');

-- persons of the newest run that published them.
CREATE OR REPLACE VIEW latest_persons AS
SELECT * FROM persons
WHERE run_id = (SELECT max(run_id) FROM published_files WHERE table_name = 'persons');

-- The newest identity_history table: every version of every person, complete.
CREATE OR REPLACE VIEW identity_history_latest AS
SELECT * FROM identity_history
WHERE run_id = (SELECT max(run_id) FROM published_files WHERE table_name = 'identity_history');

-- Who had which access at instant x (one row per person):
--   SELECT * FROM access_on(TIMESTAMPTZ '2026-03-02 12:00:00+00');
CREATE OR REPLACE MACRO access_on(x) AS TABLE
SELECT person_id, email, status, attributes, "groups", valid_from, valid_to, opened_run_id
FROM identity_history_latest
WHERE valid_from <= x AND (valid_to IS NULL OR valid_to > x);

-- The same, one row per (person, group):
--   SELECT "group", count(*) FROM access_on_groups(TIMESTAMPTZ '2026-03-02 12:00:00+00') GROUP BY 1;
CREATE OR REPLACE MACRO access_on_groups(x) AS TABLE
SELECT person_id, email, unnest("groups") AS "group"
FROM access_on(x);
