-- Description: migrate:rollback of 2025_08_08_071200_create_classrooms_and_students_tables
drop table if exists "students";
drop table if exists "classrooms";
