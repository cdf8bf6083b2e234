-- Description: CreateClassrooms and CreateStudents (bin/rails db:migrate, the SQL Active Record runs on PostgreSQL)
CREATE TABLE "classrooms" ("id" bigserial primary key, "name" character varying NOT NULL, "grade" integer NOT NULL, "room" character varying, "created_at" timestamp(6) without time zone NOT NULL, "updated_at" timestamp(6) without time zone NOT NULL);
CREATE UNIQUE INDEX "index_classrooms_on_name" ON "classrooms" ("name");
CREATE TABLE "students" ("id" bigserial primary key, "first_name" character varying NOT NULL, "last_name" character varying NOT NULL, "nisn" character varying NOT NULL, "born_on" date, "classroom_id" bigint NOT NULL, "created_at" timestamp(6) without time zone NOT NULL, "updated_at" timestamp(6) without time zone NOT NULL, CONSTRAINT "fk_rails_5c1f2e9a0b"
FOREIGN KEY ("classroom_id")
  REFERENCES "classrooms" ("id")
);
CREATE INDEX "index_students_on_classroom_id" ON "students" ("classroom_id");
CREATE UNIQUE INDEX "index_students_on_nisn" ON "students" ("nisn");
