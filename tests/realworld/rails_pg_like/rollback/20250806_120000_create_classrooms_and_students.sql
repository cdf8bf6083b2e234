-- Description: the two migrations' down (rails db:rollback STEP=2)
DROP TABLE "students";
DROP TABLE "classrooms";
