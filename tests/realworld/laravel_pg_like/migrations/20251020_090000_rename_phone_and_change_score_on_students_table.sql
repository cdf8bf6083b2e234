-- Description: 2025_10_20_090000: renameColumn('phone', 'guardian_phone'); score decimal(5, 2)->change(); name string(120)->change()
alter table "students" rename column "phone" to "guardian_phone";
alter table "students" alter column "score" type numeric(5, 2), alter column "score" drop not null, alter column "score" drop default, alter column "score" drop identity if exists;
alter table "students" alter column "name" type varchar(120), alter column "name" set not null, alter column "name" drop default, alter column "name" drop identity if exists;
