-- Description: 2025_11_03_084500: $table->smallInteger('grade')->nullable()->change() (mixed-grade clubs have none)
alter table "classrooms" alter column "grade" type smallint, alter column "grade" drop not null, alter column "grade" drop default, alter column "grade" drop identity if exists;
