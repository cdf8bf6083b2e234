CREATE TABLE `grades` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`student_id` integer NOT NULL,
	`subject` text NOT NULL,
	`score` real NOT NULL,
	`term` integer DEFAULT 1 NOT NULL,
	`label` text GENERATED ALWAYS AS (`subject` || ' T' || `term`) VIRTUAL,
	FOREIGN KEY (`student_id`) REFERENCES `students`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "score_range" CHECK("grades"."score" >= 0 and "grades"."score" <= 100)
);
--> statement-breakpoint
CREATE INDEX `grades_student_term_idx` ON `grades` (`student_id`,`term`);--> statement-breakpoint
ALTER TABLE `classes` ADD `captain_id` integer REFERENCES students(id);--> statement-breakpoint
DROP INDEX `students_class_idx`;--> statement-breakpoint
CREATE INDEX `students_class_active_idx` ON `students` (`class_id`) WHERE "students"."active" = 1;--> statement-breakpoint
CREATE VIEW `active_students` AS select "id", "name", "class_id" from "students" where "students"."active" = 1;
