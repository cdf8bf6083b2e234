-- Description: migrate:rollback of 0001_01_01_000002_create_jobs_table
drop table if exists "jobs";
drop table if exists "job_batches";
drop table if exists "failed_jobs";
