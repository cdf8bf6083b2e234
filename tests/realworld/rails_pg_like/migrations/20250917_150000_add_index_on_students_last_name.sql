-- Description: disable_ddl_transaction!; add_index :students, [:last_name, :first_name], algorithm: :concurrently
CREATE INDEX CONCURRENTLY "index_students_on_last_name_and_first_name" ON "students" ("last_name", "first_name");
