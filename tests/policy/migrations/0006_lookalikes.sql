-- Nothing here changes the schema, whatever the words say.
SET lock_timeout = '2s';
INSERT INTO audit (stmt) VALUES ('DROP TABLE orders; TRUNCATE customers');
UPDATE notes SET body = $body$ ALTER TABLE x DROP COLUMN y; $body$ WHERE id = 1;
SELECT "drop table" FROM "create index" /* VACUUM FULL */;
