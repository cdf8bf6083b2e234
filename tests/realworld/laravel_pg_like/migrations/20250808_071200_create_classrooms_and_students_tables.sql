-- Description: 2025_08_08_071200_create_classrooms_and_students_tables
create table "classrooms" ("id" bigserial primary key not null, "name" varchar(255) not null, "grade" smallint not null, "homeroom_user_id" bigint null, "created_at" timestamp(0) without time zone null, "updated_at" timestamp(0) without time zone null);
alter table "classrooms" add constraint "classrooms_homeroom_user_id_foreign" foreign key ("homeroom_user_id") references "users" ("id") on delete set null;
create table "students" ("id" bigserial primary key not null, "classroom_id" bigint not null, "nis" varchar(255) not null, "name" varchar(255) not null, "phone" varchar(255) null, "score" integer null, "created_at" timestamp(0) without time zone null, "updated_at" timestamp(0) without time zone null);
alter table "students" add constraint "students_classroom_id_foreign" foreign key ("classroom_id") references "classrooms" ("id") on delete cascade;
alter table "students" add constraint "students_nis_unique" unique ("nis");
