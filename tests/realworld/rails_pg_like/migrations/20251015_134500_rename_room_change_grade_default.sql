-- Description: rename_column :classrooms, :room, :room_code; change_column_default :classrooms, :grade, from: nil, to: 7
ALTER TABLE "classrooms" RENAME COLUMN "room" TO "room_code";
ALTER TABLE "classrooms" ALTER COLUMN "grade" SET DEFAULT 7;
