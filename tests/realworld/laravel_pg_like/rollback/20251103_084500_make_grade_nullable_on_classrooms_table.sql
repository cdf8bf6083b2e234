-- Description: migrate:rollback of 2025_11_03_084500
alter table "classrooms" alter column "grade" type smallint, alter column "grade" set not null, alter column "grade" drop default, alter column "grade" drop identity if exists;
