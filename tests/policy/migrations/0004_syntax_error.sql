SET lock_timeout = '2s';
CREATE TABLE ok (id bigint);

ALTER TABLE ok ADD COLUMN x int NOT NULL DEFAULT 0
ALTER TABLE ok ADD COLUMN y int;
