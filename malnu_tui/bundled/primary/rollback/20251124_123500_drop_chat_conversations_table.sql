-- Description: Undo 20251124_123500_create_chat_conversations_table.sql
-- Author: MA Malnu Kananga Development Team

DROP INDEX IF EXISTS idx_chat_conversations_user;
DROP TABLE IF EXISTS chat_conversations;
