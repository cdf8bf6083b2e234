-- Description: down
ALTER TABLE "classrooms" ALTER COLUMN "grade" DROP DEFAULT;
ALTER TABLE "classrooms" RENAME COLUMN "room_code" TO "room";
