-- Description: down: drop_table :attendances
DROP TABLE "attendances";
