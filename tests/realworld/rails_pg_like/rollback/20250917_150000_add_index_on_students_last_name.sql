-- Description: down: remove_index … algorithm: :concurrently
DROP INDEX CONCURRENTLY "index_students_on_last_name_and_first_name";
