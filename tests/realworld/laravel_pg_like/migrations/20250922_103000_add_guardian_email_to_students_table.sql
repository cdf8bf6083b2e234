-- Description: 2025_09_22_103000_add_guardian_email_to_students_table
alter table "students" add column "guardian_email" varchar(255) null;
create index "students_guardian_email_index" on "students" ("guardian_email");
