-- Athena / Glue DDL for an otds-highspot artifact store on S3.
-- Generated from internal/contract by deploy/sql/files_test.go
-- (go test ./deploy/sql -run TestAthenaDDL -update); do not edit by hand.
--
-- Placeholders: ${database} (Glue database), ${location} (s3://bucket/prefix,
-- no trailing slash), ${start_date} (first dt to project, YYYY-MM-DD).
-- ${dt} and ${run_id} are Athena's own projection templates: keep them.
--
-- Partitions: dt is projected as a date range (${start_date} .. NOW, daily);
-- run_id is INJECTED: every query must name the run(s) with static equality,
--   WHERE run_id = '20261125T235959Z-1a2b'   or   WHERE run_id IN ('a', 'b')
-- (see README.md for why, and how to find the latest run id).
-- Athena reads every file under a partition: only published parts are ever
-- there (attempts write to _staging/ and the commit copies parts into place).

-- accounts (stage extract.<tree>)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`accounts` (
  `tree` string,
  `partition` string,
  `dn` string,
  `source_id` string,
  `object_guid` string,
  `modified_at` timestamp,
  `created_at` timestamp,
  `login` array<string>,
  `mail` array<string>,
  `given_name` array<string>,
  `surname` array<string>,
  `display_name` array<string>,
  `employee_id` array<string>,
  `title` array<string>,
  `department` array<string>,
  `company` array<string>,
  `country` array<string>,
  `city` array<string>,
  `manager` array<string>,
  `external_id` array<string>,
  `disabled` array<string>,
  `locked` array<string>,
  `service_account` array<string>,
  `member_of` array<string>,
  `extra` map<string,array<string>>
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/accounts/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/accounts/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- groups (stage extract.<tree>)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`groups` (
  `tree` string,
  `partition` string,
  `dn` string,
  `source_id` string,
  `object_guid` string,
  `name` string,
  `display_name` array<string>,
  `description` array<string>,
  `modified_at` timestamp,
  `created_at` timestamp,
  `member_count` bigint,
  `extra` map<string,array<string>>
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/groups/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/groups/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- memberships (stage extract.<tree>)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`memberships` (
  `tree` string,
  `partition` string,
  `group_dn` string,
  `group_source_id` string,
  `member_dn` string,
  `member_source_id` string,
  `member_kind` string,
  `member_partition` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/memberships/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/memberships/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- rejects (stage extract.<tree>)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`rejects` (
  `tree` string,
  `partition` string,
  `dn` string,
  `source_id` string,
  `kind` string,
  `code` string,
  `reason` string,
  `detail` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/rejects/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/rejects/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- accounts_normalized (stage transform)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`accounts_normalized` (
  `account_key` string,
  `tree` string,
  `partition` string,
  `dn` string,
  `source_id` string,
  `login` string,
  `login_qualified` string,
  `emails` array<string>,
  `primary_email` string,
  `employee_id` string,
  `employee_id_key` string,
  `given_name` string,
  `surname` string,
  `display_name` string,
  `title` string,
  `department` string,
  `company` string,
  `country` string,
  `manager_dn` string,
  `status` string,
  `is_service` boolean,
  `service_reason` string,
  `region` string,
  `business_unit` string,
  `territory` string,
  `role` string,
  `attributes` map<string,string>,
  `groups` array<string>,
  `modified_at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/accounts_normalized/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/accounts_normalized/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- effective_memberships (stage transform)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`effective_memberships` (
  `account_key` string,
  `tree` string,
  `group_key` string,
  `group_dn` string,
  `group_name` string,
  `direct` boolean,
  `depth` int,
  `path` array<string>
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/effective_memberships/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/effective_memberships/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- persons (stage transform)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`persons` (
  `person_id` string,
  `primary_email` string,
  `emails` array<string>,
  `employee_id` string,
  `given_name` string,
  `surname` string,
  `display_name` string,
  `title` string,
  `department` string,
  `company` string,
  `country` string,
  `status` string,
  `is_service` boolean,
  `region` string,
  `business_unit` string,
  `territory` string,
  `role` string,
  `attributes` map<string,string>,
  `primary_tree` string,
  `trees` array<string>,
  `account_keys` array<string>,
  `groups` array<string>,
  `source_of` map<string,string>,
  `modified_at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/persons/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/persons/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- person_links (stage transform)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`person_links` (
  `account_key` string,
  `tree` string,
  `dn` string,
  `person_id` string,
  `rule` string,
  `key` string,
  `detail` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/person_links/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/person_links/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- match_review (stage transform)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`match_review` (
  `review_id` string,
  `account_keys` array<string>,
  `person_ids` array<string>,
  `reason` string,
  `evidence` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/match_review/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/match_review/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- highspot_users (stage pull)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`highspot_users` (
  `highspot_id` string,
  `email` string,
  `name` string,
  `surname` string,
  `display_name` string,
  `suspended` boolean,
  `verified` boolean,
  `group_ids` array<string>,
  `group_names` array<string>,
  `pulled_at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/highspot_users/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/highspot_users/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- highspot_groups (stage pull)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`highspot_groups` (
  `highspot_id` string,
  `name` string,
  `description` string,
  `member_count` bigint,
  `managed` boolean,
  `pulled_at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/highspot_groups/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/highspot_groups/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- drift (stage pull)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`drift` (
  `kind` string,
  `email` string,
  `highspot_id` string,
  `person_id` string,
  `group` string,
  `detail` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/drift/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/drift/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- desired_users (stage plan)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`desired_users` (
  `person_id` string,
  `email` string,
  `name` string,
  `surname` string,
  `display_name` string,
  `suspended` boolean,
  `groups` array<string>,
  `group_rules` map<string,string>,
  `onboarding` array<string>,
  `role` string,
  `region` string,
  `tree` string,
  `scope_rule` string,
  `protected` boolean
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/desired_users/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/desired_users/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- changes (stage plan)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`changes` (
  `change_id` string,
  `seq` bigint,
  `phase` int,
  `op` string,
  `person_id` string,
  `email` string,
  `tree` string,
  `highspot_id` string,
  `group` string,
  `group_id` string,
  `before` string,
  `after` string,
  `rule` string,
  `reason` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/changes/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/changes/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- load_results (stage apply)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`load_results` (
  `change_id` string,
  `op` string,
  `email` string,
  `group` string,
  `status` string,
  `attempts` int,
  `http_status` int,
  `highspot_id` string,
  `error` string,
  `at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/load_results/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/load_results/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- identity_history (stage history)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`identity_history` (
  `person_id` string,
  `email` string,
  `status` string,
  `attributes` map<string,string>,
  `groups` array<string>,
  `hash` string,
  `valid_from` timestamp,
  `valid_to` timestamp,
  `opened_run_id` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/identity_history/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/identity_history/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- access_history (stage history)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`access_history` (
  `person_id` string,
  `email` string,
  `status` string,
  `attributes` map<string,string>,
  `groups` array<string>,
  `hash` string,
  `valid_from` timestamp,
  `valid_to` timestamp,
  `opened_run_id` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/access_history/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/access_history/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- access_review (stage review)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`access_review` (
  `email` string,
  `highspot_id` string,
  `highspot_status` string,
  `person_id` string,
  `display_name` string,
  `trees` array<string>,
  `accounts` array<string>,
  `directory_status` string,
  `group` string,
  `managed` boolean,
  `grant` string,
  `rule` string,
  `reason` string,
  `last_changed_at` timestamp,
  `last_change` string,
  `last_change_run_id` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/access_review/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/access_review/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- analytics_persons (stage analytics)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`analytics_persons` (
  `person_id` string,
  `primary_email` string,
  `emails` array<string>,
  `employee_id` string,
  `given_name` string,
  `surname` string,
  `display_name` string,
  `title` string,
  `department` string,
  `company` string,
  `country` string,
  `status` string,
  `is_service` boolean,
  `region` string,
  `business_unit` string,
  `territory` string,
  `role` string,
  `attributes` map<string,string>,
  `primary_tree` string,
  `trees` array<string>,
  `account_keys` array<string>,
  `groups` array<string>,
  `source_of` map<string,string>,
  `modified_at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/analytics_persons/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/analytics_persons/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- analytics_accounts_normalized (stage analytics)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`analytics_accounts_normalized` (
  `account_key` string,
  `tree` string,
  `partition` string,
  `dn` string,
  `source_id` string,
  `login` string,
  `login_qualified` string,
  `emails` array<string>,
  `primary_email` string,
  `employee_id` string,
  `employee_id_key` string,
  `given_name` string,
  `surname` string,
  `display_name` string,
  `title` string,
  `department` string,
  `company` string,
  `country` string,
  `manager_dn` string,
  `status` string,
  `is_service` boolean,
  `service_reason` string,
  `region` string,
  `business_unit` string,
  `territory` string,
  `role` string,
  `attributes` map<string,string>,
  `groups` array<string>,
  `modified_at` timestamp
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/analytics_accounts_normalized/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/analytics_accounts_normalized/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);

-- analytics_person_links (stage analytics)
CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`analytics_person_links` (
  `account_key` string,
  `tree` string,
  `dn` string,
  `person_id` string,
  `rule` string,
  `key` string,
  `detail` string
)
PARTITIONED BY (`dt` string, `run_id` string)
STORED AS PARQUET
LOCATION '${location}/analytics_person_links/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${start_date},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.run_id.type' = 'injected',
  'storage.location.template' = '${location}/analytics_person_links/dt=${dt}/run_id=${run_id}/',
  'parquet.compression' = 'ZSTD'
);
