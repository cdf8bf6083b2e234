-- Description: migrate:rollback of 2025_10_20_090000
alter table "students" alter column "name" type varchar(255), alter column "name" set not null, alter column "name" drop default, alter column "name" drop identity if exists;
alter table "students" alter column "score" type integer, alter column "score" drop not null, alter column "score" drop default, alter column "score" drop identity if exists;
alter table "students" rename column "guardian_phone" to "phone";
