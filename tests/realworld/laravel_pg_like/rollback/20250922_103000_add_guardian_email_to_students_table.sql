-- Description: migrate:rollback of 2025_09_22_103000_add_guardian_email_to_students_table
drop index "students_guardian_email_index";
alter table "students" drop column "guardian_email";
