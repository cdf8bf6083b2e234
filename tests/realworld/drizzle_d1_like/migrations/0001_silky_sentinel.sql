CREATE TABLE `attendance` (
	`student_id` integer NOT NULL,
	`day` text NOT NULL,
	`present` integer DEFAULT false NOT NULL,
	`late_minutes` integer DEFAULT 0 NOT NULL,
	`recorded_at` integer DEFAULT (unixepoch()) NOT NULL,
	PRIMARY KEY(`student_id`, `day`),
	FOREIGN KEY (`student_id`) REFERENCES `students`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `students` ADD `phone` text;--> statement-breakpoint
ALTER TABLE `classes` ADD `year` integer DEFAULT 2024 NOT NULL;
